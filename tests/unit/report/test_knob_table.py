"""The decision table per knob (issue 18): one row per knob change against the baseline, read from the report's
judged outcomes (better / equivalent within +-m / inconclusive with its MDE), capacity "not measured" where no search
ran, and decisions.csv written beside table.csv."""

from __future__ import annotations

import csv

import numpy as np

from harness.report.decision import build_decision
from harness.report.knob_table import CSV_FILE, NOT_MEASURED, SECTION, capacity, knob_diff, knob_table
from harness.report.render import markdown, to_html
from harness.spec.gates import GatesSpec
from harness.stats.estimate import median_ci
from harness.tracking.reader import RunRecord

T, L, CAP = "perf/output_tokens_per_s", "perf/ttft_p95_ms", "perf/capacity_rps_at_slo"
Z = np.array([1.2, -0.8, 0.3, -1.5, 0.9, 0.1, -0.4, 1.6, -0.6, -0.8])
Z = (Z - Z.mean()) / Z.std(ddof=1)
DRIFT = 1000.0 * np.exp(0.1 * Z[::-1])
BASE_PARAMS = {"server.kind": "vllm", "server.vllm.kv_cache_dtype": "", "server.vllm.max_model_len": "8192",
               "server.extra_args": "[]", "server.argv": "vllm serve m --port 8000", "server.info.version": "0.26.0"}


def variant(name: str, ratio: np.ndarray, params: dict[str, str], **extra: float) -> RunRecord:
    """A variant with one repeat per block (as the pipeline logs one): throughput = the shared drift x `ratio`,
    TTFT p95 = 200 ms / `ratio`."""
    blocks = {T: list(DRIFT[: len(ratio)] * ratio), L: list(200.0 / ratio)}
    reps = [{m: v[i] for m, v in blocks.items()} for i in range(len(ratio))]
    metrics = {"perf/error_rate": 0.0, "repeats/count": float(len(reps)), **extra}
    for m, values in blocks.items():
        e = median_ci(values)
        metrics[m] = e.value
        if e.has_interval:
            metrics[m + "_ci_low"], metrics[m + "_ci_high"] = e.low, e.high
    return RunRecord(f"id-{name}", name, "0", "sweep", "ok", metrics, {**BASE_PARAMS, **params},
                     {"harness.ci_method": "repeats-median"}, reps)


def test_the_table_reads_each_outcome_with_its_interval_and_says_what_is_not_measured(tmp_path):
    runs = [variant("base", np.ones(10), {}),
            variant("kv-fp8", np.exp(np.log(1.2) + 0.005 * Z), {"server.vllm.kv_cache_dtype": "fp8",
                                                                "server.argv": "vllm serve m --port 8001"},
                    **{CAP: 12.3, CAP + "_ci_low": 11.0, CAP + "_ci_high": 13.5, "perf/output_tokens_per_joule": 2.5}),
            variant("len4096", np.exp(0.001 + 0.004 * Z), {"server.vllm.max_model_len": "4096"}),
            variant("offload", np.exp(0.15 * Z[:4] - 0.15 * Z[:4].mean()),
                    {"server.extra_args": "[--kv-offloading-size, '8', --kv-offloading-backend, native]"})]
    gates = GatesSpec.model_validate({"baseline": {"variant": "base"}, "recommend": {"objective": T}})
    report = build_decision(runs, gates, "exp", "sweep", smoke=False)
    table = knob_table(report)
    rows = {r.variant: r for r in table.rows}
    assert [r.variant for r in table.rows][0] == "base" and rows["base"].changed == "- (baseline)"
    assert rows["base"].objective.text.startswith("baseline: ")
    # each outcome is the report's own (its perf differences), not recomputed
    for name in ("kv-fp8", "len4096", "offload"):
        assert rows[name].objective.outcome == report.perf.of(name, T).verdict
    fp8 = rows["kv-fp8"]
    assert fp8.changed == "kv_cache_dtype: default -> fp8"  # argv differs too, but it is derived, not a knob
    assert fp8.objective.outcome == "better" and fp8.objective.cell().startswith("x1.2") and "] better" in fp8.objective.cell()
    assert fp8.objective.low < 1.2 < fp8.objective.high and fp8.objective.blocks == 10 and fp8.blocks == "10 paired"
    assert fp8.latency.outcome == "better" and fp8.latency.cell().startswith("x0.83")  # lower TTFT is better
    assert fp8.capacity == "12.3 req/s [11, 13.5]" and fp8.tokens_per_joule == "2.5 tok/J"
    eq = rows["len4096"]
    assert eq.changed == "max_model_len: 8192 -> 4096" and eq.objective.cell().endswith("equivalent within +-5%")
    inc = rows["offload"]
    assert inc.changed.startswith("extra_args: [] -> [--kv-offloading-size, '8'")
    assert inc.objective.outcome == "inconclusive" and "could not detect less than" in inc.objective.text
    assert inc.objective.mde is not None and inc.objective.mde > 0.05 and inc.blocks == "4 paired"
    assert inc.capacity == NOT_MEASURED and inc.tokens_per_joule == NOT_MEASURED and rows["base"].capacity == NOT_MEASURED

    md = markdown(report, {})
    assert f"## {SECTION}" in md and "| variant | what changed | out tok/s vs baseline |" in md
    assert "| kv-fp8 | kv_cache_dtype: default -> fp8 | x1.2" in md and f"| {NOT_MEASURED} |" in md
    assert SECTION in to_html(report, {})
    path = table.write_csv(tmp_path / CSV_FILE)
    with path.open() as f:
        got = {row["variant"]: row for row in csv.DictReader(f)}
    assert got["kv-fp8"]["objective_outcome"] == "better" and float(got["kv-fp8"]["capacity_low"]) == 11.0
    assert got["offload"]["capacity"] == "" and got["offload"]["capacity_text"] == NOT_MEASURED
    eq_row = got["len4096"]
    assert eq_row["objective_metric"] == T and float(eq_row["objective_low"]) < 1.0 < float(eq_row["objective_high"])


def test_without_params_the_knob_metrics_say_what_changed_and_an_a_a_twin_says_nothing():
    a = RunRecord("a", "a", "0", None, "ok", {"knob/max_num_seqs": 32.0})
    b = RunRecord("b", "b", "0", None, "ok", {"knob/max_num_seqs": 30.0})
    assert knob_diff(a, b) == "knob/max_num_seqs: 32 -> 30"
    assert knob_diff(a, RunRecord("c", "c", "0", None, "ok", {"knob/max_num_seqs": 32.0})) == "nothing (the baseline's config again)"


def test_no_baseline_no_rows_and_the_reason():
    runs = [variant("x", np.ones(3), {}), variant("y", np.ones(3), {})]
    table = knob_table(build_decision(runs, GatesSpec.model_validate({"baseline": {"variant": "gone"}}), "exp", "sweep", smoke=False))
    assert table.rows == [] and "not among the compared runs" in table.note and table.markdown()[0] == f"## {SECTION}"
    alone = build_decision(runs[:1], GatesSpec(), "exp", "sweep", smoke=False)
    assert len(knob_table(alone).rows) == 1 and SECTION not in markdown(alone, {})  # nothing to decide: no section


def test_a_censored_capacity_prints_the_searched_end_it_lies_beyond_never_a_value():
    params = {"load.capacity.lo": "1.0", "load.capacity.hi": "64.0"}
    below = RunRecord("a", "a", "0", None, "ok", {"perf/capacity_censored": -1.0}, params)
    above = RunRecord("b", "b", "0", None, "ok", {"perf/capacity_censored": 1.0}, params)
    assert capacity(below) == ("< 1.0 (censored)", (None, None, None)) and capacity(above)[0] == ">= 64.0 (censored)"
    assert capacity(RunRecord("c", "c", "0", None, "ok", {"perf/capacity_censored": 0.0}, params))[0] == NOT_MEASURED


def test_attached_variants_say_their_description_not_where_they_listen():
    """Attached servers (kind openai) differ only in base_url: the knob is what their description says (the harness
    does not know an attached server's flags); a launched difference still reads from the params."""
    where = {"server.kind": "openai", "server.openai.base_url": "http://127.0.0.1:8001"}
    base = RunRecord("a", "base", "0", "s", "ok", {}, where, {"harness.engine": "openai"})
    fp8 = RunRecord("b", "kv-fp8", "0", "s", "ok", {}, {**where, "server.openai.base_url": "http://127.0.0.1:8002"},
                    {"harness.engine": "openai", "mlflow.note.content": "fp8 KV cache [--kv-cache-dtype fp8]"})
    assert knob_diff(base, fp8) == "fp8 KV cache [--kv-cache-dtype fp8] (attached: as its description says)"
    bare = RunRecord("c", "twin", "0", "s", "ok", {}, {**where, "server.openai.base_url": "http://127.0.0.1:8003"},
                     {"harness.engine": "openai"})
    assert knob_diff(base, bare) == "nothing (the baseline's config again)"  # base_url is not a knob
