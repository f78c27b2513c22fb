"""A stopped web-UI test is judged by `not_served` before its run folder is written: without Locust, from records
written as its users write them (no MLflow experiment: the folder's results.json is what MLflow would get)."""

from __future__ import annotations

import json

import pytest

from harness.loadgen.record import RequestRecord
from harness.webui.session import SessionOptions, WebSession

HOST = "http://127.0.0.1:9"  # nothing listens: the run is written without the server's facts


def _session(tmp_path, warmup_s: float) -> WebSession:
    opts = SessionOptions(host=HOST, model="m", load_json=json.dumps({"warmup_s": warmup_s}), run_dir=tmp_path, variant="v")
    return WebSession(opts, started=1000.0)


def _write(session: WebSession, *records: RequestRecord) -> None:
    with session.own_records.open("w") as fh:
        fh.writelines(r.to_json() + "\n" for r in records)


def _ok(t: float) -> RequestRecord:
    return RequestRecord(t_start=t, ok=True, status=200, ttft_s=0.05, chunk_offsets_s=[0.05, 0.06], e2e_s=0.06, prompt_tokens=5,
                         completion_tokens=2)


def _error(t: float) -> RequestRecord:
    return RequestRecord(t_start=t, ok=False, status=503, error='HTTP 503: {"error": {"message": "model is loading"}}', e2e_s=0.01)


def _finish(session: WebSession, stopped: float) -> dict:
    session.stop(stopped)
    session.finish()
    return json.loads((session.variant_folder / "results.json").read_text())


def test_an_error_storm_is_failed_with_the_servers_message(tmp_path):
    session = _session(tmp_path, warmup_s=0)
    _write(session, _ok(1000.5), *(_error(1001.0 + i / 10) for i in range(9)))
    live = session.payload()["verdict"]
    assert live["state"] == "running" and live["text"].startswith("failing so far")
    record = _finish(session, 1003.0)
    verdict = session.payload()["verdict"]
    assert verdict["state"] == "failed" and verdict["stage"] == "load" and verdict["kind"] == "NotServed"
    assert "9 of 10 requests in the measured window failed (90.0% > load.max_error_rate 5%)" in verdict["text"]
    assert 'HTTP 503 x9: {"error": {"message": "model is loading"}}' in verdict["text"]
    # the run folder's record: what MLflow gets (status FAILED, the harness's error tags), the cause first
    assert record["status"] == "FAILED" and record["tags"]["harness.status"] == "failed"
    assert record["tags"]["harness.failed_stage"] == "load" and "model is loading" in record["tags"]["harness.error"]
    assert record["metrics"]["perf/errors"] == 9 and record["metrics"]["perf/ttft_p50_ms"] == pytest.approx(50.0)  # the 1 success only
    assert session.mlflow.status == "FAILED"
    assert json.loads((session.folder / "sweep_state.json").read_text())["variants"]["v"]["status"] == "failed"


def test_a_test_stopped_before_anything_finished_in_its_window_never_logs_as_a_success(tmp_path):
    session = _session(tmp_path, warmup_s=2)
    _write(session, _ok(1000.2), _ok(1000.5), _ok(1001.0))  # the warm-up's; then nothing finished before Stop
    record = _finish(session, 1004.0)
    assert record["status"] == "FAILED" and record["tags"]["harness.failed_stage"] == "load"
    assert "(3 recorded, all in the 2 s warm-up)" in record["tags"]["harness.error"]
    assert not any(k.startswith(("perf/ttft", "perf/e2e")) for k in record["metrics"])  # no latency presented
    assert session.payload()["verdict"]["text"].startswith("FAILED: load: no request started in the measured window")


def test_a_test_without_a_single_record_fails_too(tmp_path):
    session = _session(tmp_path, warmup_s=0)
    record = _finish(session, 1002.0)
    assert record["status"] == "FAILED" and record["metrics"]["perf/requests"] == 0
    assert session.payload()["verdict"]["state"] == "failed"


def test_a_test_that_served_is_ok(tmp_path):
    session = _session(tmp_path, warmup_s=0)
    _write(session, *(_ok(1000.1 + i / 10) for i in range(20)), _error(1002.5))  # 1 in 21: under 5%
    record = _finish(session, 1003.0)
    assert record["status"] == "FINISHED" and "harness.error" not in record["tags"] and record["tags"]["harness.status"] == "ok"
    verdict = session.payload()["verdict"]
    assert verdict["state"] == "ok" and verdict["text"] == ("ok: 20 of 21 requests in the measured window succeeded; 1 failed "
                                                            "(4.8%, load.max_error_rate 5%)")
    assert {r["metric"]: r["value"] for r in session.payload()["rows"]}["Verdict"] == verdict["text"]
