"""Tables formatted by column type (harness/report/cells.py), on hand-made runs (no MLflow): integers as integers,
one number of decimals per column, every tied value starred alike, and a legend only for what the table shows."""

from __future__ import annotations

import math
import re

import pandas as pd

from harness.report.cells import column, format_table, measured_decimals, setting_decimals
from harness.report.compare import compare
from harness.report.decision import build_decision
from harness.report.render import markdown, text_table, to_html
from harness.spec.gates import GatesSpec
from harness.tracking.reader import RunRecord, RunSet

T, L = "perf/output_tokens_per_s", "perf/ttft_p95_ms"


def run(name: str, status: str = "ok", **metrics: float) -> RunRecord:
    named = {k.replace("__", "/"): v for k, v in metrics.items()}
    return RunRecord(f"id-{name}", name, "0", "s", status, named, {}, {"harness.ci_method": "none"})


def _row(text: str, name: str) -> list[str]:
    """The cells of `name`'s row (its name left out) of a text table (columns 2+ spaces apart) or a Markdown one."""
    line = next(l for l in text.splitlines() if l.startswith(name + " ") or l.startswith(f"| {name} |"))
    cells = [c.strip() for c in (line.strip("|").split("|") if line.startswith("|") else re.split(r"\s{2,}", line))]
    return cells[1:]


def test_decimals_by_column_type():
    assert measured_decimals([9.194, 14.2]) == 2 and measured_decimals([181.5, 90.0]) == 1 and measured_decimals([0.35, 0.0]) == 3
    assert measured_decimals([1234.5]) == 1 and measured_decimals([]) == 3
    assert setting_decimals([1.0, 4.0]) == 0 and setting_decimals([5.0, 4.25]) == 2 and setting_decimals([0.135]) == 3
    assert column([1.0, 8192.0], measured=False).cell(8192.0) == "8192"
    assert column([9.194, 14.2], measured=True).cell(9.194, (8.5, 10.01)) == "9.19 [8.50, 10.01]"
    assert column([1.0, math.nan], measured=False).cell(math.nan) == "-" and column(["ok", math.nan], False).cell(math.nan) == ""


def test_compare_prints_one_precision_per_column_and_stars_every_tie():
    runs = [run("p1", **{"perf__output_tokens_per_s": 9.194, "perf__ttft_p95_ms": 812.0, "perf__error_rate": 0.0}),
            run("p4", **{"perf__output_tokens_per_s": 14.2, "perf__ttft_p95_ms": 812.0, "perf__error_rate": 0.0}),
            run("p8", **{"perf__output_tokens_per_s": 14.2, "perf__ttft_p95_ms": 950.04, "perf__error_rate": 0.0}),
            run("dead", status="failed", **{"perf__output_tokens_per_s": 14.2, "perf__ttft_p95_ms": 812.0, "perf__error_rate": 0.0})]
    text = compare(RunSet(runs, "s", "exp"), gates=GatesSpec()).render()
    header = text.splitlines()[1]
    assert header.split() == ["status", "out", "tok/s", "TTFT", "p95", "ms", "error", "rate"]
    assert _row(text, "p1") == ["ok", "9.19", "812.0 *", "0.000 *"]  # 9.19 next to 14.20, not 9.194 next to 14.2
    assert _row(text, "p4") == ["ok", "14.20 *", "812.0 *", "0.000 *"]  # both 14.20 starred, both 812.0
    assert _row(text, "p8") == ["ok", "14.20 *", "950.0", "0.000 *"]
    assert _row(text, "dead") == ["failed", "14.20", "812.0", "0.000"]  # a failed run is never the best
    assert "* = best in column" in text and "[low, high]" not in text  # no interval shown: not explained


def test_no_star_no_legend_and_a_single_run_has_no_best():
    one = compare(RunSet([run("only", **{"perf__output_tokens_per_s": 12.5})], "s", "exp"), gates=GatesSpec()).render()
    assert " *" not in one and "best in column" not in one and "12.50" in one
    with_interval = run("a", **{"perf__ttft_p95_ms": 200.0, "perf__ttft_p95_ms_ci_low": 180.0, "perf__ttft_p95_ms_ci_high": 230.0})
    text = compare(RunSet([with_interval], "s", "exp"), gates=GatesSpec()).render()
    assert "200.0 [180.0, 230.0]" in text and "[low, high] = the logged interval" in text and "best in column" not in text


def test_the_decision_report_writes_settings_as_integers_in_every_rendering():
    knobs = {"knob__parallel": 1.0, "knob__ctx_size": 8192.0, "knob__bits_per_weight": 5.0, "knob__params_b": 0.135}
    runs = [run("p1", **knobs, **{"perf__output_tokens_per_s": 9.194, "perf__ttft_p95_ms": 300.0}),
            run("p4", **{**knobs, "knob__parallel": 4.0, "knob__bits_per_weight": 4.25},
                **{"perf__output_tokens_per_s": 14.2, "perf__ttft_p95_ms": 300.0})]
    r = build_decision(runs, GatesSpec(), "exp", "s", smoke=False)
    text = text_table(r)
    cells = dict(zip(text.splitlines()[0].split(), _row(text, "p4")))
    assert cells["parallel"] == "4" and cells["ctx_size"] == "8192" and cells["bits_per_weight"] == "4.25"
    assert cells["params_b"] == "0.135"
    assert _row(text, "p1")[:5] == ["ok", "5.00", "8192", "1", "0.135"]  # bits 5.00 next to 4.25: one precision
    md = markdown(r, {})
    assert "| p1 | ok | 5.00 | 8192 | 1 | 0.135 | 9.19 | 300.0 * |" in md and "1.000" not in md and "8192.0" not in md
    page = to_html(r, {})
    assert "<td>8192</td>" in page and "<td>14.20 *</td>" in page and "<td>300.0 *</td>" in page
    assert md.count("* = best in column") == 1 and page.count("* = best in column") == 1


def test_format_table_keeps_text_columns_and_reports_what_it_showed():
    table = pd.DataFrame({"status": ["ok", "ok"], "requests": [120.0, 96.0], "out tok/s": [1.5, math.nan]}, index=["a", "b"])
    f = format_table(table, measured=["out tok/s"], intervals={("a", "out tok/s"): (1.25, 1.75)}, tied={"out tok/s": ["a"]})
    assert f.rows == [("a", ["ok", "120", "1.500 [1.250, 1.750] *"]), ("b", ["ok", "96", "-"])]
    assert f.starred and f.intervals and f.header == ["status", "requests", "out tok/s"]
