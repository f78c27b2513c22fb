"""The first screen of `harness run` / `harness compare` (harness/report/screen.py): the decision first, at most 120
columns, one line per variant instead of one per comparison; `-v` keeps every line."""

from __future__ import annotations

from pathlib import Path

from harness.report.compare import compare
from harness.report.decision import build_decision
from harness.report.publish import PublishedReport
from harness.report.screen import WIDTH, comparison_screen, report_screen, verbose_report
from harness.report.significance import paired_bootstrap
from tests.unit.report.family import adjust_family
from harness.spec.gates import GatesSpec
from harness.tracking.reader import RunRecord, RunSet

QUALITY = ("quality/gsm8k/exact_match_strict", "quality/gsm8k/exact_match_flexible",
           "quality/ifeval/prompt_level_strict_acc", "quality/ifeval/inst_level_strict_acc")


def _run(name: str, top1: float, tok_s: float, ttft: float, quality: float) -> RunRecord:
    """A variant of the CPU quant sweep: every headline column with a wide interval, as a requests bootstrap logs them."""
    m: dict[str, float] = {}
    values = {q: quality for q in QUALITY} | {
        "fidelity/top1_agreement": top1, "fidelity/kl_mean": 1 - top1, "fidelity/identical_rate": top1 / 2,
        "perf/output_tokens_per_s": tok_s, "perf/requests_per_s": tok_s / 32, "perf/ttft_p50_ms": ttft * 0.9,
        "perf/ttft_p95_ms": ttft, "perf/tpot_p50_ms": 129.3, "perf/itl_p95_ms": 64.51, "perf/e2e_p95_ms": 7668.5,
        "perf/error_rate": 0.0, "server/requests_waiting_mean": 0.0}
    for k, v in values.items():
        m[k] = v
        if not k.startswith("quality/"):
            m[k + "_ci_low"], m[k + "_ci_high"] = v * 0.61, v * 1.37
    tags = {"harness.ci_method": "requests-bootstrap"}
    return RunRecord(f"id-{name}", name, "0", "sweep1", "ok", m, {}, tags)


def _report(tmp_path: Path) -> PublishedReport:
    runs = [_run("q4_1", 1.0, 6.32, 1149.3, 0.333), _run("q8_0", 0.965, 8.81, 721.6, 0.167),
            _run("q3_k_m", 0.799, 14.05, 1884.0, 0.167), _run("q2_k", 0.627, 9.66, 513.1, 0.333),
            _run("kv-q8_0", 0.951, 2.34, 650.7, 0.333)]
    gates = GatesSpec.model_validate({"baseline": {"variant": "q4_1"},
                                      "quality_floor": {"fidelity/top1_agreement": {"min": 0.9}}})
    r = build_decision(runs, gates, "local-quant-sweep", "sweep1", smoke=True)
    base = {i: float(i % 3 == 0) for i in range(6)}
    diffs = [paired_bootstrap(base, {i: float(i % 3 == 0 and (i > 0 or v != "q8_0")) for i in range(6)}, q, ("q4_1", v))
             for v in ("q8_0", "q3_k_m", "q2_k", "kv-q8_0") for q in QUALITY[:2] + ("quality/ifeval/prompt_level_strict_acc",
                                                                                   "quality/ifeval/prompt_level_loose_acc")]
    r.differences = adjust_family(diffs)
    return PublishedReport(r, tmp_path / "report", [], "sweep1")


def test_the_screen_says_the_decision_first_in_120_columns_with_one_line_per_variant(tmp_path):
    published = _report(tmp_path)
    lines = report_screen(published).splitlines()
    assert max(len(line) for line in lines) <= WIDTH, max(lines, key=len)
    assert lines[0].startswith("recommend q8_0: highest perf/output_tokens_per_s")
    assert "**" not in "\n".join(lines)
    not_eligible = [line for line in lines if "not eligible" in line]
    assert [line.split(":")[0].strip() for line in not_eligible] == ["q3_k_m", "q2_k"]
    # the narrow table: status, the headline quality columns, fidelity top-1, out tok/s, TTFT p95; the rest in the report
    header = next(line for line in lines if "status" in line)
    for label in ("gsm8k flex", "ifeval prompt strict", "fid top-1", "out tok/s", "TTFT p95 ms"):
        assert label in header, (label, header)
    assert "gsm8k strict" not in header and "ITL p95" not in header
    assert any("more columns in report.md" in line for line in lines)
    # one line per variant against the baseline, in place of 16 comparison lines
    per_variant = [line for line in lines if " vs q4_1: " in line]
    assert [line.split()[0] for line in per_variant] == ["q8_0", "q3_k_m", "q2_k", "kv-q8_0"]
    assert "out tok/s x1.39 (1 repeat: no verdict)" in per_variant[0]
    assert "quality: 4 differences, none significant" in per_variant[0]
    assert not any("not significant" in line for line in lines)
    pareto = [i for i, line in enumerate(lines) if line.startswith("Pareto ")]
    assert pareto and pareto[0] > lines.index(per_variant[-1])
    where = next(i for i, line in enumerate(lines) if line.startswith("report: "))
    assert where > pareto[-1] and "report.html" in lines[where]


def test_a_narrow_width_drops_intervals_then_columns_from_the_right(tmp_path):
    published = _report(tmp_path)
    wide = report_screen(published, width=160)
    assert "[" in next(line for line in wide.splitlines() if line.startswith("q3_k_m "))  # intervals where they fit
    assert "[" not in next(line for line in report_screen(published).splitlines() if line.startswith("q3_k_m "))
    narrow = report_screen(published, width=60).splitlines()
    words = [line for line in narrow if str(tmp_path) not in line]  # a path is never broken
    assert max(len(line) for line in words) <= 60, max(words, key=len)
    header = next(line for line in narrow if "status" in line)
    assert "TTFT p95 ms" not in header and "gsm8k flex" in header
    row = next(line for line in narrow if line.startswith("q3_k_m "))
    assert "[" not in row


def test_verbose_keeps_every_comparison_line(tmp_path):
    published = _report(tmp_path)
    text = verbose_report(published)
    assert text.count(" vs q4_1 on quality/") == 16 and "not significant" in text
    assert text.splitlines()[0].startswith("recommend q8_0")


def test_a_comparison_alone_fits_and_points_to_verbose():
    runs = [_run("q4_1", 1.0, 6.32, 1149.3, 0.333), _run("q8_0", 0.965, 8.81, 721.6, 0.167)]
    c = compare(RunSet(runs, "sweep1", "exp"), gates=GatesSpec())
    lines = comparison_screen(c).splitlines()
    assert max(len(line) for line in lines) <= WIDTH
    assert lines[0] == "experiment 'exp', sweep run sweep1"
    assert any("more columns with -v" in line for line in lines)
    assert len(c.render().splitlines()[1]) > WIDTH  # the full table (-v) is the wide one
