"""The repeats contract on a real SQLite MLflow store: variant runs with nested repeat runs, read back by load_runs
with one search, then compared (a tie, not a winner) and gated (a significant-only rule passes)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.stats.design import block_schedule
from harness.stats.estimate import median_ci
from harness.stats.simulate import measure_blocks

T, L = "perf/output_tokens_per_s", "perf/ttft_p95_ms"


def _log_sweep(c, eid: str, variants: dict[str, dict[str, list[float]]], failed: set[tuple[str, int]] = frozenset(),
               seed: int = 0) -> tuple[str, dict[str, str]]:
    """A sweep the way the pipeline logs one with repeats: parent, variant runs, and per block (interleaved,
    shuffled with `seed`) one repeat run of every variant nested under its variant run."""
    parent = c.create_run(eid, run_name="sweep", tags={"harness.kind": "sweep"}).info.run_id
    ids = {name: c.create_run(eid, run_name=name, tags={"mlflow.parentRunId": parent, "harness.kind": "variant",
                                                         "harness.variant": name, "harness.status": "ok"}).info.run_id
           for name in variants}
    repeats = len(next(iter(next(iter(variants.values())).values())))
    if repeats > 1:
        for block, order in enumerate(block_schedule(list(variants), repeats, seed)):
            for name in order:
                bad = (name, block) in failed
                rid = c.create_run(eid, run_name=f"{name}-r{block}", tags={
                    "mlflow.parentRunId": ids[name], "harness.kind": "repeat", "harness.variant": name,
                    "harness.repeat": str(block), "harness.block": str(block),
                    "harness.status": "failed" if bad else "ok"}).info.run_id
                for metric, values in variants[name].items():
                    c.log_metric(rid, metric, values[block])
                c.set_terminated(rid, "FAILED" if bad else "FINISHED")
    for name, metrics in variants.items():
        rid = ids[name]
        for metric, values in metrics.items():
            e = median_ci(values)
            c.log_metric(rid, metric, e.value)
            if e.has_interval:
                c.log_metric(rid, metric + "_ci_low", e.low)
                c.log_metric(rid, metric + "_ci_high", e.high)
        c.log_metric(rid, "perf/error_rate", 0.0)
        c.log_metric(rid, "repeats/count", float(repeats))
        c.set_tag(rid, "harness.ci_method", "repeats-median" if repeats > 1 else "none")
        c.set_terminated(rid, "FINISHED")
    c.set_terminated(parent, "FINISHED")
    return parent, ids


@pytest.fixture()
def store(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    c = MlflowClient(tracking_uri=uri)
    eid = c.create_experiment("rep", artifact_location=(tmp_path / "artifacts").as_uri())
    rng = np.random.default_rng(4)
    older, _ = _log_sweep(c, eid, {"a": {T: [100.0, 101.0, 99.0]}})  # another sweep's repeats: not to be attached
    tp = measure_blocks({"a": 181.0, "b": 181.0}, 10, rng, higher_is_better=True)
    lat = measure_blocks({"a": 200.0, "b": 200.0}, 10, rng)
    sweep, ids = _log_sweep(c, eid, {n: {T: tp[n], L: lat[n]} for n in ("a", "b")}, failed={("b", 7)}, seed=3)
    return uri, c, sweep, ids, older, (tp, lat)


def test_load_runs_fills_repeats_with_one_search(store, monkeypatch, tmp_path):
    from mlflow.tracking import MlflowClient

    from harness.gates.check import check_gates
    from harness.report.compare import compare
    from harness.spec.gates import GatesSpec
    from harness.tracking.reader import read_runs

    uri, _, sweep, ids, _, (tp, lat) = store
    searches: list[str] = []
    real = MlflowClient.search_runs

    def counted(self, experiment_ids, filter_string="", *a, **kw):
        searches.append(filter_string)
        return real(self, experiment_ids, filter_string, *a, **kw)

    monkeypatch.setattr(MlflowClient, "search_runs", counted)
    runset = read_runs(uri, [sweep])
    assert len([s for s in searches if "'repeat'" in s]) == 1, searches
    by = {r.name: r for r in runset.runs}
    assert sorted(by) == ["a", "b"] and by["a"].run_id == ids["a"]
    a, b = by["a"], by["b"]
    assert a.blocks == list(range(10)) and [m[T] for m in a.repeats] == pytest.approx(tp["a"])
    assert [m[L] for m in a.repeats] == pytest.approx(lat["a"])
    assert b.blocks == [0, 1, 2, 3, 4, 5, 6, 8, 9]  # the failed repeat of block 7 is not a measurement
    assert b.repeat_values(T) == pytest.approx({i: v for i, v in enumerate(tp["b"]) if i != 7})
    assert a.repeat_count == 10 and a.ci_method == "repeats-median" and a.interval(T) is not None
    # a variant run given by id gets its repeats too
    searches.clear()
    (alone,) = read_runs(uri, [ids["a"]]).runs
    assert len(alone.repeats) == 10 and len([s for s in searches if "'repeat'" in s]) == 1
    monkeypatch.undo()
    # identical configurations: a tie in compare (not shown worse), never better/worse; a non-inferiority gate fails
    # where the interval's bound does not clear the limit (an A/A cannot show <= 1.0 x baseline)
    cmp = compare(runset, gates=GatesSpec())
    assert sorted(cmp.tied["out tok/s"]) == ["a", "b"]
    d = cmp.differences.of("b", T)
    assert d.difference.method == "paired t on log-ratios" and d.difference.n == 9 and d.verdict in ("equivalent", "inconclusive")
    gates = GatesSpec.model_validate({"relative": {L: {"max_ratio": 1.0, "significant": True}}, "baseline": {"variant": "a"}})
    outcome = check_gates(runset, tmp_path / "gate", gates, log_artifacts=False)
    rel = [c for c in outcome.report.checks if c.kind == "relative" and c.variant == "b"]
    assert rel and all(c.status == ("pass" if c.ratio_high <= 1.0 else "fail") and "the threshold <= " in c.message
                       and "interval's high end" in c.message for c in rel)
    assert "verdict" in (tmp_path / "gate" / "junit.xml").read_text()
