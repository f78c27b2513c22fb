"""Adaptive repeats through the real stack: a programmed streaming server (tests/fakes/fake_llama_server.py), three
variants in interleaved blocks (a baseline, the same server under another name, one 40% slower per token), a
target on TPOT p50, a group-sequential design of 2 looks over at most 6 blocks. The sweep stops at a planned look
with the A/A pair "equivalent" and the slow one "worse", measures no block after it, and logs the design, the looks
and the variance components on its sweep run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fakes.fake_llama_server import install as install_fake_llama

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_an_adaptive_sweep_stops_at_a_look_with_every_comparison_decided(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from harness import run_experiment
    from harness.pipeline.presenter import Presenter
    from harness.spec import build_spec

    fake, model = install_fake_llama(tmp_path)
    monkeypatch.setenv("PYTHONPATH", f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    env = {"FAKE_JITTER": "0.05", "FAKE_TTFT_S": "0.02", "FAKE_INTERVAL_S": "0.03"}
    spec = build_spec({
        "name": "adaptive",
        "server": {"kind": "llamacpp", "model": str(model), "served_model_name": "fake-model", "startup_timeout_s": 30,
                   "llamacpp": {"binary": str(fake)}, "env": env},
        "variants": [{"name": "a"}, {"name": "same"},
                     {"name": "slow", "server": {"env": {**env, "FAKE_INTERVAL_S": "0.042"}}}],
        "load": {"users": 2, "duration_s": 1, "warmup_s": 0, "request_timeout_s": 5},
        "quality": {"enabled": False},
        "fidelity": {"enabled": False},
        "metrics": {"enabled": False},
        "repeats": {"target": {"metric": "perf/tpot_p50_ms", "margin": 0.15}, "max_blocks": 6, "looks": 2, "seed": 3},
        "gates": {"baseline": {"variant": "a"}},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "run_dir": str(tmp_path / "runs")},
    }, {}, [])
    lines: list[str] = []
    result = run_experiment(spec, Presenter(lines.append), compare=False)
    assert not result.failed_variants, [f.headline for o in result.sweep.outcomes for f in o.failures]

    c = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = c.search_runs([c.get_experiment_by_name("adaptive").experiment_id])
    sweep = next(r for r in runs if r.data.tags.get("harness.kind") == "sweep")
    repeats = [r for r in runs if r.data.tags.get("harness.kind") == "repeat"]
    tags, params, metrics = sweep.data.tags, sweep.data.params, sweep.data.metrics
    assert params["repeats.look_blocks"] == "3,6" and params["repeats.baseline"] == "a", params
    blocks = int(metrics["repeats/blocks"])
    # stopped at a planned look, decided, and measured nothing after it
    assert tags["harness.repeats_stop"].startswith("decided at look"), tags["harness.repeats_stop"]
    assert blocks in (3, 6) and metrics["repeats/looks_taken"] == (1 if blocks == 3 else 2)
    assert len(repeats) == 3 * blocks, len(repeats)
    decisions = tags["harness.repeats_decisions"].splitlines()
    same = next(d for d in decisions if d.startswith("same "))
    slow = next(d for d in decisions if d.startswith("slow "))
    assert "equivalent within +-15%" in same and slow.endswith("worse"), decisions
    assert 1.2 < metrics["repeats/ratio/slow/perf/tpot_p50_ms"] < 1.6
    # the variance components `harness plan --from-experiment` reads, and the looks on screen
    assert 0 < metrics["repeats/log_ratio_sd/perf/tpot_p50_ms"] < 0.2 and metrics["repeats/block_s"] > 0
    assert any(line.startswith("look 1/2 after 3 blocks") for line in lines), lines
    assert any("adaptive repeats stop: decided" in line for line in lines)
    # the report states the design's decisions (its own section), next to the fixed-design differences
    from harness.report.decision import build_decision
    from harness.spec.gates import GatesSpec
    from harness.tracking.reader import RunStore

    store = RunStore(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runset = store.load_runs([sweep.info.run_id])
    report = build_decision(runset.runs, GatesSpec(baseline={"variant": "a"}), "adaptive", sweep.info.run_id, False, store, tmp_path)
    assert report.design[0] == tags["harness.repeats_stop"] and report.design[1:] == decisions
    from harness.report.screen import decision_lines

    shown = "\n".join(decision_lines(report))
    assert "adaptive repeats: decided at look" in shown and same in shown and slow in shown, shown
