"""The first screen of `harness run` and `harness compare`: the decision first, in at most `WIDTH` columns.

In order: the recommendation with each variant that is not eligible; a narrow table (status, the headline quality
column of each task, fidelity top-1, the headline performance column and TTFT p95, with their intervals only where
they fit; columns dropped from the right until the width fits); one line per variant summarising its comparisons
with the baseline; the Pareto frontiers; flags and rooflines; where the report is. Every line is wrapped to the
width (only an unbreakable path may be longer). The full tables and every comparison are in the report files, and
on the screen with `-v` (`verbose`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from harness.report.cells import Formatted, format_table
from harness.report.columns import ColumnSpec
from harness.report.decision import DESIGN_NOTE
from harness.tracking import contract as mc

if TYPE_CHECKING:
    import pandas as pd

    from harness.report.compare import Comparison
    from harness.report.decision import DecisionReport
    from harness.report.publish import PublishedReport

WIDTH = 120
INDENT = "    "
_TASK_HEADLINE = {"gsm8k": mc.GSM8K_FLEXIBLE, "ifeval": mc.IFEVAL_PROMPT_STRICT}
"""The one column per task on the screen where a task has several (the format-robust GSM8K score, IFEval's prompt level)."""
_PERF_FIRST = (mc.CAPACITY_RPS, mc.CAPACITY_USERS, mc.OUTPUT_TOKENS_PER_S)


def wrap(text: str, width: int = WIDTH, indent: str = "", more: str = INDENT) -> list[str]:
    """`text` in lines of at most `width` (paths and other unbreakable words kept whole)."""
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent + more, break_long_words=False,
                         break_on_hyphens=False) or [indent]


def _present(table: "pd.DataFrame", label: str) -> bool:
    return label in table.columns and bool(table[label].notna().any())


def screen_columns(table: "pd.DataFrame", columns: list[ColumnSpec], quality_metric: str | None = None,
                   objective: str | None = None) -> list[str]:
    """The labels of the narrow table, most important first: status, the headline quality column(s) (the
    recommendation's quality metric, then one per task), fidelity top-1, the headline performance column (the
    objective when it is one, else capacity at the SLO where logged, else output tokens/s), TTFT p95."""
    label = {m: lab for m, lab, _ in columns}
    quality = [m for m, _, _ in columns if m.startswith("quality/")
               and (m == quality_metric or _TASK_HEADLINE.get(m.split("/")[1], m) == m)]
    if quality_metric in quality:
        quality.remove(quality_metric)
        quality.insert(0, quality_metric)
    perf = [m for m in (objective, *_PERF_FIRST) if m and m.startswith("perf/") and m in label and _present(table, label[m])][:1]
    wanted = quality + [mc.FIDELITY_TOP1] + perf + [mc.TTFT_P95_MS]
    out = ["status"] if "status" in table.columns else []
    return out + [label[m] for m in dict.fromkeys(wanted) if m in label and _present(table, label[m])]


def _width(f: Formatted) -> int:
    return max((len(line) for line in f.text().splitlines()), default=0)


def narrow_table(table: "pd.DataFrame", columns: list[ColumnSpec], intervals: Mapping[tuple[str, str], tuple[float, float]],
                 tied: Mapping[str, list[str]], quality_metric: str | None = None, objective: str | None = None,
                 width: int = WIDTH, repeats: Mapping[tuple[str, str], tuple[float, ...]] | None = None) -> tuple[Formatted, int]:
    """(the narrow table, how many of `table`'s columns it leaves out): with intervals (or the repeats, below 6) if
    they fit, else without; then columns dropped from the right until it fits."""
    labels = screen_columns(table, columns, quality_metric, objective)
    measured = [lab for _, lab, _ in columns]
    shown = format_table(table[labels], measured, intervals, tied, repeats)
    if _width(shown) > width:
        shown = format_table(table[labels], measured, {}, tied)
    while _width(shown) > width and len(labels) > 1:
        labels = labels[:-1]
        shown = format_table(table[labels], measured, {}, tied)
    return shown, len(table.columns) - len(labels)


def _legend(shown: Formatted, level: float, margin: float, ci_methods: set[str], hidden: int, where: str) -> str:
    parts = []
    if shown.starred:
        parts.append(f"* = best, or not shown worse than it at {level:.0%} (equivalent or inconclusive)"
                     + (f" or within {margin:g}" if margin else ""))
    if shown.intervals:
        parts.append("[low, high] = logged interval" + (" (1 repeat: over requests; decides nothing)"
                                                          if "requests-bootstrap" in ci_methods else ""))
    if shown.repeats:
        parts.append("(a, b, c) = the repeats (fewer than 6)")
    if hidden:
        parts.append(f"{hidden} more column{'s' * (hidden != 1)} {where}")
    return "; ".join(parts)


def _table_lines(table: "pd.DataFrame", columns: list[ColumnSpec], intervals, tied, level: float, margin: float,
                 ci_methods: set[str], quality_metric: str | None, objective: str | None, where: str, width: int,
                 repeats=None) -> list[str]:
    shown, hidden = narrow_table(table, columns, intervals, tied, quality_metric, objective, width, repeats)
    legend = _legend(shown, level, margin, ci_methods, hidden, where)
    return shown.text().splitlines() + (wrap(legend, width) if legend else [])


def decision_lines(r: "DecisionReport", width: int = WIDTH) -> list[str]:
    """The recommendation sentence, then each variant that is not eligible, one (wrapped) line each."""
    rec = r.recommendation
    lines = wrap(rec.sentence().replace("**", ""), width)
    for v in rec.verdicts:
        if not v.eligible:
            lines += wrap(f"{v.name}: not eligible: " + "; ".join(v.reasons), width, "  ")
    if r.design:
        lines += design_lines(r.design, width)
    if r.smoke:
        lines.append("SMOKE RUN: small limits; not comparable with full runs")
    return lines


def design_lines(design: list[str], width: int = WIDTH) -> list[str]:
    """An adaptive sweep's stop reason and its decision per target comparison."""
    lines = wrap(f"adaptive repeats: {design[0]}; {DESIGN_NOTE}:", width)
    for line in design[1:]:
        lines += wrap(line, width, "  ")
    return lines


def _short(metric: str, columns: Iterable[ColumnSpec]) -> str:
    return next((lab for m, lab, _ in columns if m == metric), metric.removeprefix("quality/"))


def _ratio(r: "DecisionReport", variant: str, baseline: str, metric: str) -> float | None:
    runs = {x.name: x for x in r.runs}
    base = r.perf.baseline.run if r.perf and r.perf.baseline.run and r.perf.baseline.run.name == baseline else runs.get(baseline)
    a, b = base.metric(metric) if base else None, runs[variant].metric(metric) if variant in runs else None
    return b / a if a and b is not None and math.isfinite(a) and math.isfinite(b) else None


def _perf_part(r: "DecisionReport", variant: str, head: str | None) -> tuple[str | None, list[str]]:
    """(baseline name, the performance parts of a variant's line)."""
    items = [d for d in (r.perf.items if r.perf else []) if d.variant == variant]
    if not items:
        return None, []
    baseline = items[0].baseline
    first = next((d for d in items if d.metric == head), items[0])
    label = _short(first.metric, r.columns)
    if first.decided and first.difference is not None:
        x = first.difference
        interval = "no interval" if math.isnan(x.low) else f"[{x.low:.2f}, {x.high:.2f}]"
        parts = [f"{label} x{x.ratio:.2f} {interval} {x.outcome_text()}"]
    else:
        ratio = _ratio(r, variant, baseline, first.metric)
        why = "1 repeat" if "1 repeat" in first.reason else first.reason
        parts = [(f"{label} x{ratio:.2f}" if ratio is not None else label) + f" ({why}: no verdict)"]
    for verdict in ("better", "worse", "equivalent"):
        named = [_short(d.metric, r.columns) for d in items if d is not first and d.decided and d.verdict == verdict]
        if named:
            parts.append(f"{verdict} on {', '.join(named)}")
    return baseline, parts


def _quality_part(r: "DecisionReport", variant: str) -> tuple[str | None, str | None]:
    diffs = [d for d in r.differences if d.variant == variant]
    if not diffs:
        return None, None
    sig = [d for d in diffs if d.significant]
    text = f"quality: {len(diffs)} difference{'s' * (len(diffs) != 1)}, "
    if sig:
        text += f"{len(sig)} significant: " + ", ".join(
            f"{_short(d.metric, r.columns)} {'drop' if d.delta < 0 else 'gain'} {d.delta:+.3f}" for d in sig)
        return diffs[0].baseline, text
    mdds = [d for d in diffs if not math.isnan(d.mdd)]
    low = min(mdds, key=lambda d: d.mdd) if mdds else None
    detect = ("" if low is None else f" (n={low.n}: too few samples to detect any drop)" if low.mdd >= 1.0
              else f" (smallest detectable drop {low.mdd:.2f}, n={low.n})")
    return diffs[0].baseline, text + "none significant" + detect


def variant_lines(r: "DecisionReport", width: int = WIDTH) -> list[str]:
    """One line per variant compared with the baseline: its headline performance ratio (and any other verdict), and
    its quality differences in one clause; a line saying why when nothing was compared."""
    head = next((m for m in (r.gates.recommend.objective, *_PERF_FIRST) if r.perf and m in r.perf.metrics), None)
    lines: list[str] = []
    for run in r.runs:
        base, parts = _perf_part(r, run.name, head)
        qbase, quality = _quality_part(r, run.name)
        if quality:
            parts.append(quality)
        if parts:
            lines += wrap(f"{run.name} vs {base or qbase}: " + "; ".join(parts), width)
    if r.perf is not None and not r.perf.items:
        lines += wrap(f"no differences: {r.perf.baseline.note}", width)
    elif not r.differences and any(m.startswith("quality/") for x in r.runs for m in x.metrics):  # quality ran, untested
        lines += wrap(f"quality differences: {r.significance_note}", width)
    return lines


def frontier_lines(r: "DecisionReport", width: int = WIDTH) -> list[str]:
    out: list[str] = []
    for f in r.frontiers:
        out += wrap(f"Pareto {f.y_metric} vs {f.x_metric}: frontier {', '.join(f.on) or '-'}"
                    + "".join(f"; {n} dominated by {', '.join(b)}" for n, b in f.dominated_by.items())
                    + "".join(f"; {n} on it only because inconclusive vs {', '.join(b)}" for n, b in f.uncertain.items()), width)
    return out


def extra_lines(r: "DecisionReport", width: int = WIDTH) -> list[str]:
    """Flags and rooflines."""
    out: list[str] = []
    for flag in r.flags:
        out += wrap("FLAG " + flag, width)
    for x in r.rooflines:
        frac = f"{100 * x.fraction:.1f}% of " if x.fraction is not None else ""
        out += wrap(f"roofline {x.variant}: {frac}{x.ceiling_tok_s:.0f} tok/s ceiling (batch {x.batch}, {x.hardware}, "
                    f"{x.bound}-bound)", width)
    return out


def where_line(published: "PublishedReport") -> str:
    logged = f"; logged to sweep run {published.logged_to} under report/" if published.logged_to else ""
    return f"report: {published.folder / 'report.html'}, {published.folder / 'report.md'}{logged}"


def _passed_over(c: "Comparison | None") -> list[str]:
    if c is None or c.runs is None or not c.runs.passed_over:
        return []
    return [f"newer sweep(s) {', '.join(c.runs.passed_over)} passed over: none of their variants finished (their MLflow "
            f"tag harness.error says why); `harness compare --run {c.runs.passed_over[0]}` shows it"]


def report_screen(published: "PublishedReport", comparison: "Comparison | None" = None, width: int = WIDTH) -> str:
    """The default screen after a report: decision, narrow table, one line per variant, Pareto, flags, report path."""
    r = published.report
    rec = r.gates.recommend
    lines = decision_lines(r, width)
    lines += _table_lines(r.table, r.columns, r.intervals, r.tied, r.level, rec.margin, {x.ci_method for x in r.runs},
                          rec.quality_metric, rec.objective, "in report.md (table.csv)", width, r.repeats)
    lines += variant_lines(r, width) + frontier_lines(r, width) + extra_lines(r, width)
    for note in _passed_over(comparison):
        lines += wrap(note, width)
    lines += wrap(where_line(published), width)
    return "\n".join(lines)


def comparison_screen(c: "Comparison", width: int = WIDTH) -> str:
    """The default screen of a comparison alone (no report): where from, the narrow table, smoke and passed-over notes."""
    where = f"sweep run {c.parent_run_id}" if c.parent_run_id else "runs of several sweeps"
    lines = wrap(f"experiment '{c.experiment}', {where}", width)
    methods = {r.ci_method for r in c.runs.runs} if c.runs else set()
    lines += _table_lines(c.table, c.columns, c.intervals, c.tied, c.level, c.margin, methods, None, None, "with -v", width,
                          c.repeats)
    if c.smoke:
        lines.append("SMOKE RUN: small limits; not comparable with full runs")
    for note in _passed_over(c):
        lines += wrap(note, width)
    return "\n".join(lines)


def verbose_report(published: "PublishedReport") -> str:
    """Every line after the full table (`-v`): the recommendation, every Pareto line, every quality comparison,
    flags, rooflines and where the report is, unwrapped."""
    r = published.report
    rec = r.recommendation
    lines = [rec.sentence().replace("**", "")]
    lines += [f"  {v.name}: not eligible: " + "; ".join(v.reasons) for v in rec.verdicts if not v.eligible]
    lines += frontier_lines(r, 10**6)
    lines += ["  " + d.sentence() for d in r.differences]
    lines += extra_lines(r, 10**6)
    lines.append(where_line(published))
    return "\n".join(lines)

