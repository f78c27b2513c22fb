"""Cached prompt tokens through the real stack: the programmed streaming server (tests/fakes/fake_llama_server.py)
reports `prompt_tokens_details.cached_tokens` = 3 of its 5 prompt tokens in each stream's usage; the Locust process
records it per request, the load stage sums it, and the variant's MLflow run (a real SQLite store) carries
`perf/cached_prompt_tokens_rate` = 0.6; the screen's load line says it next to TTFT."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fakes.fake_llama_server import load_only_spec

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_cached_prompt_tokens_rate_is_logged(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from harness import run_experiment
    from harness.pipeline.presenter import Presenter
    from harness.spec import build_spec

    monkeypatch.setenv("PYTHONPATH", f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    spec = build_spec(load_only_spec(tmp_path, "cached", {"FAKE_CACHED_TOKENS": "3", "FAKE_TTFT_S": "0.01"},
                                     {"users": 2, "duration_s": 1, "warmup_s": 0, "request_timeout_s": 5}), {}, [])
    uri = spec.tracking.uri
    lines: list[str] = []
    result = run_experiment(spec, Presenter(lines.append), compare=False)
    assert not result.failed_variants, [f.headline for o in result.sweep.outcomes for f in o.failures]

    c = MlflowClient(tracking_uri=uri)
    runs = c.search_runs([c.get_experiment_by_name("cached").experiment_id])
    variant = next(r for r in runs if r.data.tags.get("harness.kind") == "variant")
    metrics = variant.data.metrics
    assert metrics["perf/cached_prompt_tokens_rate"] == pytest.approx(3 / 5)
    assert metrics["perf/cached_prompt_reported"] >= 2 and metrics["perf/cached_prompt_reported"] == metrics["perf/ok"]
    load_line = next(line for line in lines if "load: " in line)
    assert "60% of prompt tokens cached" in load_line, load_line
