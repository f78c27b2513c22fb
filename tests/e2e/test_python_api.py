"""The documented Python API: `run_experiment(spec)` returns a typed result (no CLI involved)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fakes.fake_llama_server import install as install_fake_llama

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def test_run_experiment_returns_typed_outcomes_failures_and_decisions(tmp_path, monkeypatch):
    from harness import run_experiment
    from harness.pipeline.presenter import Presenter
    from harness.spec import build_spec

    fake, model = install_fake_llama(tmp_path)
    monkeypatch.setenv("PYTHONPATH", f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    spec = build_spec({
        "name": "api",
        "server": {"kind": "llamacpp", "model": str(model), "served_model_name": "fake-model", "startup_timeout_s": 30,
                   "llamacpp": {"binary": str(fake)}},
        "variants": [{"name": "healthy"}, {"name": "dies", "server": {"env": {"FAKE_DIE_AFTER": "4"}}}],
        "load": {"users": 2, "duration_s": 8, "warmup_s": 0, "request_timeout_s": 5},
        "quality": {"enabled": False},
        "metrics": {"interval_s": 1},
        "gates": {"slo": {"perf/error_rate": {"max": 0.5}}},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "run_dir": str(tmp_path / "runs")},
    }, {}, [])
    lines: list[str] = []
    result = run_experiment(spec, Presenter(lines.append), gate=True)

    assert result.exit_code == 2 and result.failed_variants == ["dies"]
    healthy, dies = result.sweep.outcomes
    assert not healthy.failed and healthy.load is not None and healthy.load.summary.requests > 0
    assert healthy.scrape is not None and healthy.scrape.scrapes >= 2 and healthy.scrape.failures == 0
    # the crash stays data until it is rendered: stage, exit code and likely cause survive
    (failure,) = [f for f in dies.failures if f.stage == "server"]
    assert failure.exit_code == 137 and "out of memory" in (failure.cause or "") and "out of memory" in failure.log_tail
    assert "exit code 137" in failure.headline and "likely cause" in failure.headline
    assert dies.load is not None and dies.load.summary.requests > 0  # measured before the crash, kept
    # decisions on the same sweep: comparison, report and gates came back typed
    assert result.comparison is not None and "healthy" in result.comparison.render()
    assert result.report is not None and result.report.report.recommendation.chosen == "healthy"
    assert result.gate is not None and result.gate.sweep_id == result.sweep.parent_run_id
    assert any("load:" in line and "requests" in line for line in lines)
    assert any(line.startswith("[2/2] dies: FAILED: server: the server died") for line in lines), lines
