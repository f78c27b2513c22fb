"""A test started from Locust's web UI, end to end: the LLM tab fills from the raw records (in a real
browser), quality runs against the same host, and the stopped test is an MLflow run like a `harness run`
variant, next to CLI runs (sqlite store in tmp)."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.load.records import read_records
from harness.load.stats import summarize
from harness.server.launch import free_port
from harness.server.process import ManagedProcess
from harness.spec.load import SLOSpec
from harness.webui import locustfile

pytestmark = pytest.mark.integration


class WebUI:
    """A Locust process serving the web UI with the packaged web-UI locustfile."""

    def __init__(self, url: str, proc: ManagedProcess):
        self.url, self.proc = url, proc

    def swarm(self, **form: Any) -> None:
        r = httpx.post(self.url + "/swarm", data=form, timeout=10)
        assert r.status_code == 200 and r.json()["success"], r.text

    def stop(self) -> None:
        assert httpx.post(self.url + "/stop", timeout=60).json()["success"]

    def llm(self) -> dict[str, Any]:
        return httpx.get(self.url + "/llm/stats", timeout=10).json()

    def wait(self, ok: Callable[[dict[str, Any]], bool], what: str, timeout_s: float = 60) -> dict[str, Any]:
        end = time.time() + timeout_s
        while time.time() < end:
            data = self.llm()
            if ok(data):
                return data
            time.sleep(0.5)
        raise AssertionError(f"{what} did not happen within {timeout_s:.0f}s: {json.dumps(self.llm())[:1500]}\n{self.proc.log_tail(30)}")

    def logged(self, timeout_s: float = 180) -> dict[str, Any]:
        data = self.wait(lambda d: d.get("mlflow", {}).get("state") in ("logged", "failed"), "MLflow logging", timeout_s)
        assert data["mlflow"]["state"] == "logged", (data["mlflow"], (Path(data["folder"]) / "mlflow.log").read_text())
        return data


@contextlib.contextmanager
def web_ui(tmp_path: Path, host: str, *extra: str) -> Iterator[WebUI]:
    port = free_port()
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile()), "--host", host, "--web-port", str(port),
            "--run-dir", str(tmp_path / "runs"), *extra]
    with ManagedProcess(argv, tmp_path / "locust.log", grace_s=10) as proc:
        url = f"http://127.0.0.1:{port}"
        end = time.time() + 60
        while True:
            try:
                if httpx.get(url + "/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < end and proc.poll() is None, proc.log_tail()
            time.sleep(0.3)
        yield WebUI(url, proc)


def _records(folder: Path) -> list:
    return read_records(sorted((folder / "load").glob("records.jsonl*")))


def _mlflow(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _artifacts(client, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for a in client.list_artifacts(run_id, path):
        out |= _artifacts(client, run_id, a.path) if a.is_dir else {a.path}
    return out


def _dom_rows(dom: str) -> dict[str, list[str]]:
    """The rendered tables' rows, by their first cell."""
    rows = {}
    for tr in re.findall(r"<tr.*?</tr>", dom, re.S):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[dh].*?</t[dh]>", tr, re.S)]
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (apt-get install chromium; .ci/run does)")
def test_llm_tab_in_a_browser_then_the_test_is_an_mlflow_run(fake_server, tmp_path):
    ep, _ = fake_server(ttft_s=0.03, interval_s=0.005, chunks=8)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    load = json.dumps({"warmup_s": 1, "slo": {"ttft_ms": 500}})
    with web_ui(tmp_path, ep.base_url) as ui:
        ui.swarm(user_count=2, spawn_rate=2, host=ep.base_url, harness_load=load, variant="two-users",
                 mlflow_experiment="webui-it", mlflow_tracking_uri=uri)
        # the page polls /stats/requests: the LLM rows ride along as extended_stats
        end = time.time() + 60
        rows: list[dict] = []
        while time.time() < end and not any(r["metric"] == "TTFT (ms)" and int(r["n"] or 0) >= 10 for r in rows):
            time.sleep(0.5)
            stats = httpx.get(ui.url + "/stats/requests", timeout=5).json()
            rows = next((e["data"] for e in stats.get("extended_stats", []) if e["key"] == "llm"), [])
        assert any(r["metric"] == "TTFT (ms)" for r in rows), rows
        dom = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}", "--virtual-time-budget=8000", "--dump-dom", f"{ui.url}/?tab=llm"],
            capture_output=True, text=True, timeout=90,
        ).stdout
        ui.stop()
        final = ui.logged()
        folder = Path(final["folder"]) / "two-users"

        # a second test in the same Locust process is a run of its own, with its own records
        ui.swarm(user_count=1, spawn_rate=1, host=ep.base_url, harness_load=load, variant="one-user",
                 mlflow_experiment="webui-it", mlflow_tracking_uri=uri)
        ui.wait(lambda d: d["folder"] != final["folder"] and d["records"] >= 3, "the second test's records")
        ui.stop()
        second = ui.logged()

    # the browser showed the LLM tab with its table filled
    shown = _dom_rows(dom)
    assert "LLM" in dom and "TTFT (ms)" in shown and "Output tokens/s" in shown, dom[:3000]
    assert 25 <= float(shown["TTFT (ms)"][1]) <= 200  # p50; programmed 30 ms
    assert float(shown["Goodput (req/s within load.slo)"][0]) > 0
    assert shown["Verdict"][0].startswith("serving so far (judged when the test stops): "), shown.get("Verdict")

    # the tab's numbers are summarize() over the test's raw records, with its window and SLO
    records = _records(folder)
    assert records and final["records"] == len(records)
    expected = summarize(records, final["window_start"], final["stopped"], SLOSpec(ttft_ms=500))
    got = final["summary"]
    assert got["requests"] == expected.requests and got["errors"] == expected.errors == 0
    assert got["excluded_warmup"] == expected.excluded_warmup > 0
    for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
        assert got[key]["p50"] == pytest.approx(getattr(expected, key).p50) and got[key]["p99"] == pytest.approx(getattr(expected, key).p99)
    assert got["output_tokens_per_s"] == pytest.approx(expected.output_tokens_per_s)
    assert got["goodput_per_s"] == pytest.approx(expected.goodput_per_s) and expected.goodput_per_s > 0

    # MLflow: a sweep run with one variant run, named, tagged and filed as `harness run` does
    client = _mlflow(uri)
    run = client.get_run(final["mlflow"]["run_id"])
    sweep = client.get_run(final["mlflow"]["sweep_run_id"])
    assert sweep.data.tags["harness.kind"] == "sweep" and sweep.info.run_name.startswith("locust-webui-")
    tags = run.data.tags
    assert tags["harness.kind"] == "variant" and tags["harness.variant"] == "two-users" and tags["harness.status"] == "ok"
    assert run.info.status == "FINISHED" and final["verdict"]["state"] == "ok" and "harness.error" not in tags
    assert tags["mlflow.parentRunId"] == sweep.info.run_id and tags["harness.engine"] == "openai"
    m = run.data.metrics
    assert m["perf/ttft_p50_ms"] == pytest.approx(expected.ttft_ms.p50)
    assert m["perf/goodput_per_s"] == pytest.approx(expected.goodput_per_s)
    assert m["perf/requests"] == expected.requests and "perf/ttft_p95_ms_ci_low" in m
    p = run.data.params
    assert p["server.kind"] == "openai" and p["server.openai.base_url"] == ep.base_url and p["load.users"] == "2"
    assert p["load.slo.ttft_ms"] == "500.0" and "version.locust" in p
    files = _artifacts(client, run.info.run_id)
    assert {"load/records.jsonl", "load/locust_stats.csv", "load/locust_report.html", "load/locust_failures.csv",
            "results.json", "spec/variant.yaml"} <= files, files
    # Locust's own counts are real requests (one event per request)
    report = (folder / "load" / "locust_stats.csv").read_text()
    assert "ttft" not in report and "tpot" not in report
    assert f"Aggregated,{len(records)}," in report, report

    # the second test: its own folder, records and run; the first one's records unchanged
    assert len(_records(folder)) == len(records)
    assert second["mlflow"]["run_id"] != final["mlflow"]["run_id"]
    assert len(_records(Path(second["folder"]) / "one-user")) == second["records"] >= 3
    exp = client.get_experiment_by_name("webui-it")
    variants = client.search_runs([exp.experiment_id], "tags.`harness.kind` = 'variant'")
    assert sorted(r.data.tags["harness.variant"] for r in variants) == ["one-user", "two-users"]


def test_quality_from_the_web_ui(fake_server, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    ep, _ = fake_server(ttft_s=0.02, interval_s=0.005, chunks=4)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with web_ui(tmp_path, ep.base_url, "--mlflow-tracking-uri", uri, "--mlflow-experiment", "webui-quality") as ui:
        ui.swarm(user_count=1, spawn_rate=1, host=ep.base_url, harness_load='{"warmup_s": 0}', quality_tasks="gsm8k", quality_limit="2")
        seen = ui.wait(lambda d: d["quality"]["state"] in ("running", "done", "failed"), "the quality run starting", 30)
        assert seen["quality"]["tasks"] == ["gsm8k"]
        done = ui.wait(lambda d: d["quality"]["state"] in ("done", "failed"), "the quality run", 240)
        assert done["quality"]["state"] == "done", done["quality"]
        assert done["quality"]["samples"] == {"gsm8k": 2}
        assert set(done["quality"]["scores"]["gsm8k"]) == {"exact_match_strict", "exact_match_flexible"}
        assert any(r["metric"] == "Quality gsm8k/exact_match_strict" and r["n"] == "2" for r in done["rows"]), done["rows"]
        ui.stop()
        final = ui.logged()
    run = _mlflow(uri).get_run(final["mlflow"]["run_id"])
    m, p = run.data.metrics, run.data.params
    assert m["quality/gsm8k/samples"] == 2 and "quality/gsm8k/exact_match_strict" in m and m["perf/requests"] > 0
    assert p["quality.limit"] == "2" and p["quality.tasks"] == "[gsm8k]" and p["quality.data_dir"] == str(data_dir.resolve())
    assert run.data.tags["harness.smoke"] == "true"
    files = _artifacts(_mlflow(uri), run.info.run_id)
    assert "quality/lm_eval.log" in files and any(f.startswith("quality/lm_eval/") and "results_" in f for f in files), files


def test_web_ui_reads_the_records_of_local_worker_processes(fake_server, tmp_path):
    ep, _ = fake_server(ttft_s=0.02, interval_s=0.005, chunks=4)
    with web_ui(tmp_path, ep.base_url, "--processes", "2", "--mlflow-experiment", "") as ui:
        end = time.time() + 60
        while len(httpx.get(ui.url + "/stats/requests", timeout=5).json().get("workers", [])) < 2:
            assert time.time() < end, ui.proc.log_tail()
            time.sleep(0.5)
        ui.swarm(user_count=4, spawn_rate=4, host=ep.base_url, harness_load='{"warmup_s": 0}')
        ui.wait(lambda d: d["records"] >= 20, "records from the worker processes")
        ui.stop()
        final = ui.wait(lambda d: (Path(d["folder"]) / "webui" / "results.json").is_file(), "the run folder")
    folder = Path(final["folder"]) / "webui"
    files = sorted((folder / "load").glob("records.jsonl.*"))
    assert len(files) == 2, files  # one per worker process, in the test's own folder
    records = _records(folder)
    assert final["records"] == len(records) and final["summary"]["requests"] == len(records)
    assert final["mlflow"]["state"] == "local"
    result = json.loads((folder / "results.json").read_text())
    assert result["metrics"]["perf/requests"] == len(records) and result["params"]["load.users"] == "4"


def test_mlflow_down_keeps_the_test_for_harness_sync(fake_server, tmp_path):
    ep, _ = fake_server(ttft_s=0.02, interval_s=0.005, chunks=4)
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with web_ui(tmp_path, ep.base_url, "--mlflow-tracking-uri", down) as ui:
        ui.swarm(user_count=1, spawn_rate=1, host=ep.base_url, harness_load='{"warmup_s": 0}')
        ui.wait(lambda d: d["records"] >= 3, "records")
        ui.stop()
        final = ui.wait(lambda d: d["mlflow"]["state"] in ("logged", "failed"), "MLflow logging", 180)
    assert final["mlflow"]["state"] == "failed" and down in final["mlflow"]["error"], final["mlflow"]
    assert "harness sync" in final["rows"][-1]["value"]
    # everything stayed in the run folder: `harness sync` logs it once MLflow is back
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = subprocess.run([sys.executable, "-m", "harness", "sync", final["folder"], "--tracking-uri", uri],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "logged webui" in out.stdout, out.stdout + out.stderr
    client = _mlflow(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("locust-webui").experiment_id], "tags.`harness.kind` = 'variant'")
    assert run.data.metrics["perf/requests"] == final["summary"]["requests"] and "load/locust_report.html" in _artifacts(client, run.info.run_id)
