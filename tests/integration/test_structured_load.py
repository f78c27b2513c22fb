"""Structured output and tool calls through the real stack: half the requests carry a JSON-schema `response_format` or
`tools` (load.workload.structured, ratio 0.5); the programmed llama-server stand-in answers them with a streamed JSON
reply or streamed `tool_calls` deltas and makes a quarter of them invalid (FAKE_INVALID; some tool calls withheld: tokens
and no delta, as vLLM sends a call that never parses); the Locust process checks each reply, and the variant's MLflow
run carries `perf/invalid_output_rate` ~ 0.25 with TTFT/TPOT split by kind, and no error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fakes.fake_llama_server import load_only_spec

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
          "required": ["city", "population"]}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                                                "required": ["city"]}}}


def test_invalid_output_rate_and_kinds_are_logged(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from harness import run_experiment
    from harness.pipeline.presenter import Presenter
    from harness.spec import build_spec

    monkeypatch.setenv("PYTHONPATH", f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    spec = build_spec(load_only_spec(
        tmp_path, "structured", {"FAKE_INVALID": "0.25", "FAKE_TTFT_S": "0.01", "FAKE_INTERVAL_S": "0.003"},
        {"users": 2, "duration_s": 2, "warmup_s": 0, "request_timeout_s": 5,
         "workload": {"structured": {"json_schema": SCHEMA, "tools": [TOOL], "ratio": 0.5}}}), {}, [])
    uri = spec.tracking.uri
    lines: list[str] = []
    result = run_experiment(spec, Presenter(lines.append), compare=False)
    assert not result.failed_variants, [f.headline for o in result.sweep.outcomes for f in o.failures]

    c = MlflowClient(tracking_uri=uri)
    runs = c.search_runs([c.get_experiment_by_name("structured").experiment_id])
    m = next(r for r in runs if r.data.tags.get("harness.kind") == "variant").data.metrics
    assert m["perf/error_rate"] == 0  # invalid outputs are served requests, not errors
    n = m["perf/structured_requests"]
    assert n >= 12 and 0.25 * m["perf/ok"] < n < 0.75 * m["perf/ok"]  # ratio 0.5
    assert m["perf/invalid_output_rate"] == pytest.approx(0.25, abs=max(0.08, 2 / n))  # the injected share, evenly spread
    assert m["perf/invalid_outputs"] == pytest.approx(m["perf/invalid_output_rate"] * n)
    for kind in ("chat", "json", "tools"):  # the load mixes kinds: each one's TTFT/TPOT apart
        assert m[f"perf/ttft_{kind}_p50_ms"] > 0 and m[f"perf/tpot_{kind}_p50_ms"] > 0
    import json  # a withheld call (tokens, no delta, cut at max_tokens) is a served reply with no tool call, not an error
    records = [json.loads(x) for f in (tmp_path / "runs").rglob("records.jsonl") for x in f.read_text().splitlines()]
    withheld = [r for r in records if r["kind"] == "tools" and r["ttft_s"] is None and r["completion_tokens"]]
    assert withheld and all(r["ok"] and r["invalid_reason"] == "no tool call (cut at max_tokens)" for r in withheld)
    line = next((line for line in lines if "structured: " in line), str(lines))
    assert f"{n:.0f} requests, {m['perf/invalid_outputs']:.0f} invalid" in line and "first: " in line, line
