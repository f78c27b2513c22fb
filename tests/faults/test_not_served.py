"""A variant passes only if its server served: one real `harness run` attached to a misbehaving fake per variant.

Error bodies (HTTP 200 with an OpenAI error JSON, `data: {"error": ...}`, `event: error`), 500/503 storms, 429 with and
without Retry-After, malformed SSE, a server that stalls mid-stream after a few requests and a never-ending stream:
each variant ends FAILED (exit 2) with the dominant error kind, its count and the server's own message on screen and
in MLflow, its records on disk, and (closed loop) a bounded request count: the users backed off.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.harness_run import start_harness
from tests.fakes.openai_server import MESSAGE, FakeState, start

pytestmark = pytest.mark.integration

TIMEOUT_S = 2
# name: (fake mode, fake settings, the failure line's "KIND xCOUNT: message" start, at most this many requests)
SCENARIOS = {
    "error-body": ("error_body", {}, f"ErrorBody x{{n}}: {MESSAGE}", 30),
    "error-sse": ("error_sse", {}, f"StreamError x{{n}}: {MESSAGE}", 30),
    "error-event": ("error_event", {}, f"StreamError x{{n}}: {MESSAGE}", 30),
    "http503": ("http503", {}, f"HTTP 503 x{{n}}: {MESSAGE}", 30),
    "http429-retry-after": ("rate_limited", {"retry_after_s": 1}, "HTTP 429 x{n}: rate limited", 12),
    "http429-bare": ("rate_limited", {"retry_after_s": None}, "HTTP 429 x{n}: rate limited", 30),
    "malformed-sse": ("garbage", {}, "MalformedStream x{n}: an event is not JSON", 30),
    "stall-after-3": ("stall_after", {"after": 3}, f"TimeoutError x{{n}}: no complete response within {TIMEOUT_S} s", 30),
    "endless": ("endless", {}, f"TimeoutError x{{n}}: no complete response within {TIMEOUT_S} s", 30),
}


@pytest.fixture()
def fakes():
    made: dict[str, tuple[FakeState, object]] = {}
    for name, (mode, settings, _, _) in SCENARIOS.items():
        state = FakeState(mode=mode, chunks=4, ttft_s=0.01, interval_s=0.02)
        for key, value in settings.items():
            setattr(state, key, value)
        made[name] = (state, start(state))
    yield made
    for state, srv in made.values():
        state.release.set()
        srv.shutdown()


def _records(tmp: Path, variant: str) -> list[dict]:
    files = [p for p in (tmp / "runs").rglob("records.jsonl*") if f"/{variant}/" in str(p) and "unwritable" not in p.name]
    return [json.loads(line) for p in files for line in p.read_text().splitlines() if line.strip()]


def _sweep(tmp: Path, names: list[str], port: dict[str, int]):
    """Start one `harness run` whose variants attach to the fakes of `names`."""
    tmp.mkdir()
    variants = "\n".join(f'  - name: {name}\n    server: {{openai: {{base_url: "http://127.0.0.1:{port[name]}"}}}}' for name in names)
    spec = tmp / "not-served.yaml"
    spec.write_text(f"""
name: not-served
server:
  kind: openai
  served_model_name: fake-model
  startup_timeout_s: 30
  openai: {{base_url: "http://127.0.0.1:{port[names[0]]}"}}
variants:
{variants}
load: {{users: 2, duration_s: 3, warmup_s: 0, request_timeout_s: {TIMEOUT_S}, output_tokens: {{mean: 4, max: 4}}}}
quality: {{enabled: false}}
metrics: {{interval_s: 1}}
tracking: {{run_dir: "{tmp / 'runs'}"}}
""")
    return start_harness(["run", str(spec), "--no-compare"], tmp)


def test_a_server_that_did_not_serve_fails_its_variant_with_its_own_message(tmp_path, fakes, mlflow_runs):
    port = {name: srv.server_address[1] for name, (_, srv) in fakes.items()}
    names = list(SCENARIOS)
    halves = {tmp_path / "a": names[::2], tmp_path / "b": names[1::2]}  # two sweeps at once: the fakes mostly make users wait
    procs = {tmp: _sweep(tmp, group, port) for tmp, group in halves.items()}
    problems = []
    for tmp, proc in procs.items():
        code = proc.wait(timeout=600)
        out = (tmp / "harness.out").read_text()
        assert code == 2 and "Traceback" not in out, out[-5000:]
        _, parents, children = mlflow_runs(tmp, "not-served")
        assert parents[0].info.status == "FAILED"
        problems += _check(tmp, halves[tmp], out, children, fakes)
    assert not problems, "\n".join(problems)


def _check(tmp: Path, names: list[str], out: str, children: dict, fakes: dict) -> list[str]:
    problems = []
    for i, name in enumerate(names, 1):
        _, _, cause, most = SCENARIOS[name]
        state = fakes[name][0]
        records = _records(tmp, name)
        failed = [r for r in records if not r["ok"]]
        run = children[name]
        n = run.data.metrics.get("perf/requests")
        errors = int(run.data.metrics.get("perf/errors", -1))
        line = next((x for x in out.splitlines() if x.startswith(f"[{i}/{len(names)}] {name}: FAILED")), "")
        block = out.split(f"[{i}/{len(names)}] {name}: starting", 1)[-1].split("\n[", 1)[0]
        expected = cause.format(n=errors)
        checks = {
            "the variant's line names the load failure, the dominant error, its count and the server's message":
                "FAILED: load: the server did not serve: " in line and expected in line,
            "the MLflow run is FAILED with the cause": run.info.status == "FAILED" and expected in run.data.tags.get("harness.error", ""),
            "every streamed request the server received is on disk": 0 < len(records) == state.streamed,
            "the records carry the server's words": bool(failed) and all(r["error"] for r in failed),
            "a bounded request count (backoff or Retry-After)": n is not None and 0 < n <= most,
            "the load line gives the unfinished share": "% unfinished" in block,
        }
        if name == "http429-retry-after":
            checks["every 429 was waited on, none backed off"] = all(r["retry_after_s"] == 1 for r in records) and not any(
                r["backoff_s"] for r in records)
        elif name in ("stall-after-3", "endless"):
            checks["timeouts counted; the load line shows the censored E2E"] = (
                run.data.metrics.get("perf/timeouts", 0) >= 1 and run.data.metrics.get("perf/e2e_censored_max_ms", 0) >= TIMEOUT_S * 1000
                and "timed out; E2E p95 with them at their timeout" in block)
        else:
            checks["every failure backed off (closed loop), counted"] = all(r["backoff_s"] for r in failed) and run.data.metrics.get(
                "perf/backoffs") == len(failed)
        problems += [f"{name}: {what}: {line!r}" for what, ok in checks.items() if not ok]
    return problems + ([out[-6000:]] if problems else [])
