"""Repeats through the real stack: a programmed streaming server with injected random delay, interleaved blocks,
nested repeat runs, medians with intervals; A/A comes out equivalent or inconclusive (never better/worse, never
"as good" unless equivalent), a 20% slower B comes out worse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fakes.fake_llama_server import install as install_fake_llama

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
REPEATS = 6


def _sweep(tmp_path, monkeypatch, b_interval: float, level: float = 0.95):
    from harness import run_experiment
    from harness.pipeline.presenter import Presenter
    from harness.spec import build_spec

    fake, model = install_fake_llama(tmp_path)
    monkeypatch.setenv("PYTHONPATH", f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    env = {"FAKE_JITTER": "0.3", "FAKE_TTFT_S": "0.03", "FAKE_INTERVAL_S": "0.02"}
    spec = build_spec({
        "name": "repeats",
        "server": {"kind": "llamacpp", "model": str(model), "served_model_name": "fake-model", "startup_timeout_s": 30,
                   "llamacpp": {"binary": str(fake)}, "env": env},
        "variants": [{"name": "a"}, {"name": "b", "server": {"env": {**env, "FAKE_INTERVAL_S": str(b_interval)}}}],
        "load": {"users": 2, "duration_s": 2, "warmup_s": 0, "request_timeout_s": 5},
        "quality": {"enabled": False},
        "metrics": {"interval_s": 1},
        "repeats": {"count": REPEATS, "seed": 7, "level": level},
        "gates": {"baseline": {"variant": "a"}, "recommend": {"alpha": round(1 - level, 4)}},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "run_dir": str(tmp_path / "runs")},
    }, {}, [])
    lines: list[str] = []
    return run_experiment(spec, Presenter(lines.append)), lines, tmp_path


def _runs(tmp: Path):
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    exp = c.get_experiment_by_name("repeats")
    runs = c.search_runs([exp.experiment_id])
    return c, runs


def test_a_b_a_slower_variant_with_repeats(tmp_path, monkeypatch):
    result, lines, tmp = _sweep(tmp_path, monkeypatch, b_interval=0.024)  # TPOT 20% slower
    assert result.exit_code == 0, [f.headline for o in result.sweep.outcomes for f in o.failures] + [p.message for p in result.problems]
    c, runs = _runs(tmp)
    variants = {r.data.tags["harness.variant"]: r for r in runs if r.data.tags.get("harness.kind") == "variant"}
    repeats = [r for r in runs if r.data.tags.get("harness.kind") == "repeat"]
    assert len(repeats) == 2 * REPEATS and {r.data.tags["mlflow.parentRunId"] for r in repeats} == {v.info.run_id for v in variants.values()}
    sweep = next(r for r in runs if r.data.tags.get("harness.kind") == "sweep")
    assert sweep.data.tags["harness.repeats_order"] == "interleaved" and sweep.data.tags["harness.repeats_seed"] == "7"
    for name, run in variants.items():
        m = run.data.metrics
        assert m["repeats/count"] == REPEATS and run.data.tags["harness.ci_method"] == "repeats-median"
        assert m["perf/tpot_p50_ms_ci_low"] <= m["perf/tpot_p50_ms"] <= m["perf/tpot_p50_ms_ci_high"]
        per = sorted(r.data.metrics["perf/tpot_p50_ms"] for r in repeats if r.data.tags["harness.variant"] == name)
        assert per[0] <= m["perf/tpot_p50_ms"] <= per[-1]
    # interleaved: the order of measurements alternates between the variants, block by block
    order = [r.data.tags["harness.variant"] for r in sorted(repeats, key=lambda r: r.info.start_time)]
    assert all(sorted(order[2 * i: 2 * i + 2]) == ["a", "b"] for i in range(REPEATS)), order
    assert variants["b"].data.metrics["perf/tpot_p50_ms"] > variants["a"].data.metrics["perf/tpot_p50_ms"]
    # the decision: b against the baseline a, paired by block, is worse on TPOT with confidence
    perf = result.report.report.perf
    d = perf.of("b", "perf/tpot_p50_ms")
    assert d is not None and d.verdict == "worse" and "paired" in d.difference.method and d.difference.n == REPEATS, d.text()
    assert 1.1 < d.difference.ratio < 1.35 and d.difference.low > 1.0
    assert result.report.report.recommendation.chosen == "a"


def test_a_a_identical_variants_are_not_called_different(tmp_path, monkeypatch):
    # the same programmed server twice, at 99%: one end-to-end trial may call "different" in 1% of runs (the many-trial
    # A/A rate at 95% is in tests/unit/stats/test_stats_decisions.py)
    result, lines, tmp = _sweep(tmp_path, monkeypatch, b_interval=0.02, level=0.99)
    assert result.exit_code == 0
    perf = result.report.report.perf
    decided = [perf.of("b", m) for m in perf.metrics]
    decided = [d for d in decided if d is not None and d.decided]
    assert decided, perf.rows()
    # every headline metric: the interval covers 1 (A/A), so no winner is invented
    wrong = [d.text() for d in decided if d.verdict in ("better", "worse") and d.metric == "perf/tpot_p50_ms"]
    assert not wrong, wrong
    rec = result.report.report.recommendation
    assert rec.tied or rec.decided_by != "objective", rec.sentence()
    if rec.tied:  # "as good a choice" only for a tie shown equivalent; an inconclusive one says what it would take
        assert ("as good a choice" in rec.sentence()) == (rec.equivalent and rec.decided_by == "name"), rec.sentence()
        assert rec.equivalent or "inconclusive" in rec.sentence(), rec.sentence()


def test_quality_goes_to_the_first_repeat_whose_server_came_up(tmp_path, monkeypatch, data_dir):
    """On the H200 a server down for a variant's first repeats left it without its once-per-variant stages: the
    first repeat that reaches a ready server scores quality, and the variant still logs it."""
    from harness import run_experiment
    from harness.pipeline.presenter import Presenter
    from harness.spec import build_spec

    fake, model = install_fake_llama(tmp_path)
    monkeypatch.setenv("PYTHONPATH", f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    spec = build_spec({
        "name": "repeats-fail-first",
        "server": {"kind": "llamacpp", "model": str(model), "served_model_name": "fake-model", "startup_timeout_s": 30,
                   "llamacpp": {"binary": str(fake)}, "env": {"FAKE_FAIL_FIRST": str(tmp_path / "failed-once")}},
        "variants": [{"name": "a"}],
        "load": {"users": 1, "duration_s": 2, "warmup_s": 0, "request_timeout_s": 5},
        "quality": {"tasks": ["gsm8k"], "limit": 2, "num_fewshot": {"gsm8k": 0}, "data_dir": str(data_dir)},
        "fidelity": {"enabled": False},
        "metrics": {"interval_s": 1},
        "repeats": {"count": 2, "seed": 7},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "run_dir": str(tmp_path / "runs")},
    }, {}, [])
    result = run_experiment(spec, Presenter(lambda _line: None))
    (out,) = result.sweep.outcomes
    first, second = out.repeats
    assert first.server is None and first.failed and any(f.stage == "server" for f in first.failures)
    assert second.server is not None and second.quality is not None and not second.failed, second.error_text
    assert out.quality is second.quality and "quality/gsm8k/exact_match_flexible" in out.metrics()


def test_a_repeated_sweep_draws_its_plots(tmp_path, monkeypatch):
    """One sweep loop for every sweep: each repeat of a stepped load draws its load curve in its own folder (and its
    nested run's artifacts), as a single-pass sweep does."""
    from mlflow.tracking import MlflowClient

    from harness import run_experiment
    from harness.pipeline.presenter import Presenter
    from harness.spec import build_spec

    fake, model = install_fake_llama(tmp_path)
    monkeypatch.setenv("PYTHONPATH", f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    spec = build_spec({
        "name": "repeats-plots",
        "server": {"kind": "llamacpp", "model": str(model), "served_model_name": "fake-model", "startup_timeout_s": 30,
                   "llamacpp": {"binary": str(fake)}},
        "variants": [{"name": "a"}],
        "load": {"pattern": "steps", "users": 2, "warmup_s": 0, "request_timeout_s": 5,
                 "steps": [{"duration_s": 1, "users": 1}, {"duration_s": 1, "users": 2, "spawn_rate": 10}]},
        "quality": {"enabled": False},
        "fidelity": {"enabled": False},
        "metrics": {"interval_s": 1},
        "repeats": {"count": 2, "seed": 7},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "run_dir": str(tmp_path / "runs")},
    }, {}, [])
    lines: list[str] = []
    result = run_experiment(spec, Presenter(lines.append), compare=False)
    (out,) = result.sweep.outcomes
    assert not out.failed, out.error_text
    curves = sorted(p.relative_to(result.sweep.folder).as_posix() for p in result.sweep.folder.rglob("load_curve.png"))
    assert curves == ["a/repeat-0/load/load_curve.png", "a/repeat-1/load/load_curve.png"], lines
    assert sum("load curve:" in line for line in lines) == 2, lines
    c = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    repeat_runs = [run for run in c.search_runs([c.get_experiment_by_name("repeats-plots").experiment_id])
                   if run.data.tags.get("harness.kind") == "repeat"]
    assert len(repeat_runs) == 2
    for run in repeat_runs:
        assert "load_curve.png" in [a.path.rsplit("/", 1)[-1] for a in c.list_artifacts(run.info.run_id, "load")]
