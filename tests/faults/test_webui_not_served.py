"""A Locust web-UI test whose server did not serve is FAILED: in the LLM tab (its JSON and the rows the page renders)
with the one-line cause, and in MLflow (status FAILED, `harness.error`, `harness.failed_stage`), never a success; a test
that served is ok and FINISHED. One real Locust web UI, two tests in a row against programmed fake servers, a real
SQLite MLflow store."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.test_webui_session import _mlflow, web_ui

pytestmark = pytest.mark.integration


def _tab_rows(ui) -> dict[str, dict]:
    """The LLM tab's rows as the page gets them (`extended_stats` of Locust's /stats/requests), by metric."""
    stats = httpx.get(ui.url + "/stats/requests", timeout=10).json()
    (tab,) = [e["data"] for e in stats["extended_stats"] if e["key"] == "llm"]
    return {r["metric"]: r for r in tab}


def test_a_web_ui_test_against_an_erroring_server_is_failed_in_the_tab_and_in_mlflow(fake_server, tmp_path):
    bad, _ = fake_server(mode="http500")
    good, _ = fake_server(ttft_s=0.02, interval_s=0.005, chunks=4)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    load = json.dumps({"warmup_s": 0, "max_error_rate": 0.05})
    with web_ui(tmp_path, good.base_url, "--mlflow-tracking-uri", uri, "--mlflow-experiment", "webui-served") as ui:
        ui.swarm(user_count=1, spawn_rate=1, host=bad.base_url, harness_load=load, variant="erroring")
        live = ui.wait(lambda d: ((d.get("summary") or {}).get("errors") or 0) >= 3, "errors in the measured window")
        assert live["verdict"]["state"] == "running" and live["verdict"]["text"].startswith("failing so far"), live["verdict"]
        ui.stop()
        failed = ui.logged()
        failed_rows = _tab_rows(ui)

        ui.swarm(user_count=1, spawn_rate=1, host=good.base_url, harness_load=load, variant="serving")
        ui.wait(lambda d: d["folder"] != failed["folder"] and ((d.get("summary") or {}).get("ok") or 0) >= 5, "the second test's successes")
        ui.stop()
        served = ui.logged()
        served_rows = _tab_rows(ui)

    # the tab: FAILED with the one-line cause (dominant error kind, its count, the server's own message)
    summary, verdict = failed["summary"], failed["verdict"]
    n = summary["requests"]
    assert summary["ok"] == 0 and summary["errors"] == n >= 3
    assert verdict["state"] == "failed" and verdict["stage"] == "load" and verdict["kind"] == "NotServed"
    kind, count = max(summary["error_kinds"].items(), key=lambda kv: kv[1])
    assert verdict["text"].startswith(f"FAILED: load: the server did not serve: 0 of {n} requests in the measured window succeeded; "
                                      f"{kind} x{count}: "), verdict["text"]
    assert kind == "HTTP 500" and "injected failure" in verdict["text"]  # the server's own words
    assert failed_rows["Verdict"]["value"] == verdict["text"]
    assert failed_rows["TTFT (ms)"]["p50"] == failed_rows["E2E latency (ms)"]["p50"] == ""  # no latency from error responses
    assert failed_rows["MLflow"]["value"].startswith("logged as FAILED: run ")

    # MLflow: the run (and its sweep run) FAILED, with the harness's error tags; no latency logged as a result
    client = _mlflow(uri)
    run = client.get_run(failed["mlflow"]["run_id"])
    assert run.info.status == "FAILED" and client.get_run(failed["mlflow"]["sweep_run_id"]).info.status == "FAILED"
    tags = run.data.tags
    assert tags["harness.status"] == "failed" and tags["harness.failed_stage"] == "load"
    assert tags["harness.error"].startswith(f"[load] the server did not serve: 0 of {n} requests")
    assert f"{kind} x{count}: " in tags["harness.error"] and "injected failure" in tags["harness.error"]
    assert run.data.metrics["perf/errors"] == n and run.data.metrics["perf/ok"] == 0
    assert not any(k.startswith(("perf/ttft", "perf/tpot", "perf/itl", "perf/e2e")) for k in run.data.metrics), sorted(run.data.metrics)

    # the next test, against a server that serves: ok and FINISHED, no error tags
    assert served["verdict"]["state"] == "ok" and served["verdict"]["text"].startswith("ok: ") and served["summary"]["errors"] == 0
    assert served_rows["Verdict"]["value"] == served["verdict"]["text"] and served_rows["MLflow"]["value"].startswith("logged as FINISHED")
    ok_run = client.get_run(served["mlflow"]["run_id"])
    assert ok_run.info.status == "FINISHED" and client.get_run(served["mlflow"]["sweep_run_id"]).info.status == "FINISHED"
    assert ok_run.data.tags["harness.status"] == "ok"
    assert "harness.error" not in ok_run.data.tags and "harness.failed_stage" not in ok_run.data.tags
    assert ok_run.data.metrics["perf/ttft_p50_ms"] > 0
