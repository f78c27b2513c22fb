"""Gate report outputs: JSON summary, JUnit XML (one testcase per gate and run), Markdown."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from harness.tracking.gating import GateCheck, GateReport

ICON = {"pass": "✅", "fail": "❌", "error": "⛔", "skip": "➖"}


def to_junit(report: GateReport) -> str:
    suites = ET.Element("testsuites", name="harness gates")
    by_variant: dict[tuple[str, str], list] = {}
    for c in report.checks:
        by_variant.setdefault((c.variant, c.run_id), []).append(c)
    for (variant, run_id), checks in by_variant.items():
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"gates.{variant}",
            tests=str(len(checks)),
            failures=str(sum(c.status == "fail" for c in checks)),
            errors=str(sum(c.status == "error" for c in checks)),
            skipped=str(sum(c.status == "skip" for c in checks)),
        )
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="mlflow.run_id", value=run_id)
        for c in checks:
            case = ET.SubElement(suite, "testcase", classname=f"harness.gates.{variant}", name=c.gate)
            props = _properties(c)
            if props:
                node = ET.SubElement(case, "properties")
                for k, v in props.items():
                    ET.SubElement(node, "property", name=k, value=v)
            if c.status == "fail":
                ET.SubElement(case, "failure", message=c.message, type=c.kind).text = c.message
            elif c.status == "error":
                ET.SubElement(case, "error", message=c.message, type=c.kind).text = c.message
            elif c.status == "skip":
                ET.SubElement(case, "skipped", message=c.message)
    suites.set("tests", str(len(report.checks)))
    suites.set("failures", str(sum(c.status == "fail" for c in report.checks)))
    suites.set("errors", str(sum(c.status == "error" for c in report.checks)))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _cell(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}"


def _ratio(c: GateCheck) -> str:
    """`x1.150 [1.050, 1.260]` of a relative check with an interval, or ''."""
    if c.ratio is None or c.ratio_low is None or c.ratio_high is None:
        return ""
    return f"x{c.ratio:.3f} [{c.ratio_low:.3f}, {c.ratio_high:.3f}]"


def _properties(c: GateCheck) -> dict[str, str]:
    """The interval, what was checked and the verdict of a check, as JUnit properties."""
    out = {}
    if c.value is not None:
        out["value"] = f"{c.value:.6g}"
    if c.ci_low is not None and c.ci_high is not None:
        out |= {"ci_low": f"{c.ci_low:.6g}", "ci_high": f"{c.ci_high:.6g}", "checked": c.checked}
    if c.verdict is not None:
        out["verdict"] = c.verdict
    if _ratio(c):
        out["ratio"] = _ratio(c)
    return out


def to_markdown(report: GateReport) -> str:
    lines = [f"## Harness gates: {report.verdict.upper()} (exit {report.exit_code})", ""]
    failed = report.failed_gates()
    if failed:
        lines += ["Failed:", ""] + [f"- **{c.variant}**: {c.gate} — {c.message}" for c in failed] + [""]
    lines += ["| | variant | gate | value | interval | limit | baseline | vs baseline | note |", "|---|---|---|---|---|---|---|---|---|"]
    for c in report.checks:
        note = c.message.replace("|", "\\|").replace("\n", " ")
        checked = f" ({c.checked})" if c.checked != "value" else ""
        verdict = " ".join(x for x in (_ratio(c), c.verdict or "") if x)
        lines.append(f"| {ICON[c.status]} | {c.variant} | {c.gate} | {_cell(c.value)} | {c.interval_text}{checked} | {_cell(c.limit)} "
                     f"| {_cell(c.baseline_value)} | {verdict} | {note} |")
    lines += ["", "interval: the logged interval of the value (median over repeats, or per request within one run); "
              "vs baseline: candidate / baseline with its interval and outcome (rules with `significant: true`: non-inferiority, the "
              "interval's bound on the regression side must clear the limit)"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class GateFiles:
    json: Path
    junit: Path
    markdown: Path
    step_summary: Path | None


def write_outputs(report: GateReport, out_dir: Path) -> GateFiles:
    """gate.json, junit.xml and gate.md in out_dir; the Markdown is appended to $GITHUB_STEP_SUMMARY when set."""
    out_dir.mkdir(parents=True, exist_ok=True)
    j, x, m = out_dir / "gate.json", out_dir / "junit.xml", out_dir / "gate.md"
    j.write_text(json.dumps(report.to_dict(), indent=2))
    x.write_text(to_junit(report))
    md = to_markdown(report)
    m.write_text(md)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(md + "\n")
    return GateFiles(j, x, m, Path(summary) if summary else None)
