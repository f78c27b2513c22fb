"""Prefix pools and agentic sessions through the whole pipeline (`run_experiment`) against the programmed streaming
server (tests/fakes/openai_server.py, the server behind tests/fakes/fake_llama_server.py, here in-process so its
received bodies can be read), reporting 3 of 5 prompt tokens cached in every usage. The raw records (the run dir's
records.jsonl) and the bodies the server received prove each workload's shape; the variant's MLflow run (a real
SQLite store) carries the cache-hit metrics, and the screen's load line says them next to TTFT."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeState, start

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _run(tmp: Path, name: str, url: str, load: dict):
    from mlflow.tracking import MlflowClient

    from harness import run_experiment
    from harness.load.records import read_records
    from harness.pipeline.presenter import Presenter
    from harness.spec import build_spec

    uri = f"sqlite:///{tmp / name}.db"
    spec = build_spec({
        "name": name,
        "server": {"kind": "openai", "served_model_name": "fake-model", "openai": {"base_url": url, "metrics_url": ""}},
        "load": {"users": 2, "spawn_rate": 2, "duration_s": 2, "warmup_s": 0, "request_timeout_s": 5, "output_tokens": {"mean": 8}, **load},
        "quality": {"enabled": False}, "fidelity": {"enabled": False}, "metrics": {"enabled": False},
        "tracking": {"uri": uri, "run_dir": str(tmp / name)},
    }, {}, [])
    lines: list[str] = []
    result = run_experiment(spec, Presenter(lines.append), compare=False)
    assert not result.failed_variants, [f.headline for o in result.sweep.outcomes for f in o.failures]
    records = read_records((tmp / name).glob("*/*/load/records.jsonl"))
    c = MlflowClient(tracking_uri=uri)
    variant = next(r for r in c.search_runs([c.get_experiment_by_name(name).experiment_id]) if r.data.tags.get("harness.kind") == "variant")
    return records, variant.data.metrics, next(line for line in lines if "load: " in line)


def test_prefix_pool_and_agentic_sessions(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    state = FakeState(ttft_s=0.01, interval_s=0.005, cached_tokens=3)
    srv = start(state)
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        # prefix pool: 3 groups of a 40-token prefix (the system message), mixed 1:1:2
        pool = {"groups": 3, "prefix_tokens": 40, "suffix_tokens": {"mean": 30}, "mix": [1, 1, 2]}
        records, metrics, line = _run(tmp_path, "pool", url, {"workload": {"prefix_pool": pool}})
        ok = [r for r in records if r.ok]
        assert len(ok) >= 6 and {r.prefix_group for r in ok} == {0, 1, 2}
        assert all(r.prompt_tokens_target == 40 + 30 and r.turn == 0 for r in ok)
        prefixes: dict[str, set[str]] = defaultdict(set)
        for body in state.bodies:
            if body.get("stream"):
                system, user = body["messages"]
                prefixes[system["content"]].add(user["content"])
        assert len(prefixes) == 3 and all(len(p.split()) == 40 for p in prefixes)  # 3 shared prefixes, each sent again and again
        assert sum(len(s) for s in prefixes.values()) > len(prefixes)
        assert metrics["perf/cached_prompt_tokens_rate"] == pytest.approx(3 / 5)
        assert metrics["perf/cache_hit_request_rate"] == 1.0 and metrics["perf/ttft_p50_ms_cache_hit"] > 0
        assert "perf/ttft_p50_ms_cache_miss" not in metrics  # every request was a hit (3 of 5 cached)
        assert "100% cache hits; TTFT p50" in line, line

        # agentic: sessions of 3 turns, 20-token tool results, 0.2 s think time
        state.bodies.clear()
        agentic = {"turns": 3, "tool_result_tokens": {"mean": 20}, "think_time_s": 0.2}
        records, metrics, _ = _run(tmp_path, "agentic", url, {"prompt_tokens": {"mean": 30}, "workload": {"agentic": agentic}})
        sessions: dict[tuple, list] = defaultdict(list)
        for r in sorted(records, key=lambda r: r.t_start):
            sessions[(r.pid, r.user, r.conversation)].append(r)
        full = [s for s in sessions.values() if len(s) == 3]
        assert full, {k: len(v) for k, v in sessions.items()}
        for s in full:
            assert [r.turn for r in s] == [0, 1, 2]
            targets = [r.prompt_tokens_target for r in s]
            assert targets[0] < targets[1] < targets[2], targets  # the context grows turn by turn
            for a, b in zip(s, s[1:]):  # the think time passed between a reply and the next turn
                assert b.t_start - (a.t_start + a.e2e_s) >= 0.2 - 0.01
        longest = max((b for b in state.bodies if b.get("stream")), key=lambda b: len(b["messages"]))
        assert [m["role"] for m in longest["messages"]] == ["user", "assistant", "user", "assistant", "user"]
        assert longest["messages"][1]["content"]  # the model's reply, resent
        assert longest["messages"][2]["content"].startswith("Tool output:\n") and len(longest["messages"][2]["content"].split()) == 22
        assert metrics["perf/cache_hit_request_rate"] == 1.0 and "perf/ttft_p50_ms_cache_hit" in metrics
    finally:
        srv.shutdown()
