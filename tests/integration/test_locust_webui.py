"""The locustfile works by hand: Locust's web UI starts a swarm, counts each request once, and its LLM tab
shows the harness's numbers from the raw records."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.server.launch import free_port
from harness.server.process import ManagedProcess

REPO = Path(__file__).resolve().parents[2]


def _wait_http(url: str, deadline_s: float = 30) -> None:
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


def _aggregated(csv_path: Path) -> dict[str, int]:
    """Locust's stats CSV: request count per name (the Aggregated row included)."""
    with csv_path.open() as fh:
        return {row["Name"]: int(row["Request Count"]) for row in csv.DictReader(fh)}


def test_web_ui_swarm_shows_llm_stats(fake_server, tmp_path):
    ep, state = fake_server(ttft_s=0.03, interval_s=0.005)
    port = free_port()
    records = tmp_path / "records.jsonl"
    argv = [sys.executable, "-m", "locust", "-f", str(REPO / "locustfiles" / "chat.py"), "--host", ep.base_url,
            "--web-host", "127.0.0.1", "--web-port", str(port), "--records", str(records),
            "--run-dir", str(tmp_path / "runs"), "--mlflow-experiment", "", "--harness-load", '{"warmup_s": 0}']
    with ManagedProcess(argv, tmp_path / "locust.log", grace_s=5) as proc:
        ui = f"http://127.0.0.1:{port}"
        _wait_http(ui + "/")
        page = httpx.get(ui + "/").text
        assert "locust" in page.lower()
        r = httpx.post(ui + "/swarm", data={"user_count": 2, "spawn_rate": 2, "host": ep.base_url}, timeout=10)
        assert r.status_code == 200 and r.json()["success"], r.text
        llm: dict = {}
        end = time.time() + 30
        while time.time() < end and (llm.get("summary") or {}).get("requests", 0) < 10:
            time.sleep(0.5)
            llm = httpx.get(ui + "/llm/stats", timeout=5).json()
        stats = httpx.get(ui + "/stats/requests", timeout=5).json()
        assert httpx.post(ui + "/stop", timeout=30).json()["success"]
        # one Locust request per chat request: TTFT/TPOT are not requests (their numbers are the LLM tab's)
        assert {s["name"] for s in stats["stats"]} == {"chat", "Aggregated"}, (stats["stats"], proc.log_tail())
        assert 25 <= llm["summary"]["ttft_ms"]["p50"] <= 200, llm  # programmed 30 ms
        folder = Path(llm["folder"])
        end = time.time() + 30
        while time.time() < end and not (folder / "webui" / "results.json").is_file():
            time.sleep(0.5)
        final = httpx.get(ui + "/llm/stats", timeout=5).json()
    # the model was discovered from /v1/models and raw records were written where --records said
    lines = records.read_text().splitlines()
    assert lines and '"ok":true' in lines[0]
    assert state.requests >= len(lines)
    # Locust's own totals count real requests: its Aggregated row is exactly the records (n, not 3n)
    counts = _aggregated(folder / "webui" / "load" / "locust_stats.csv")
    assert counts["Aggregated"] == counts["chat"] == len(lines) == final["records"], (counts, len(lines))
    # this test's records travel with its run folder
    assert len((folder / "webui" / "load" / "records.jsonl").read_text().splitlines()) == len(lines)
    assert final["mlflow"]["state"] == "local"


def test_web_ui_binds_loopback_by_default(fake_server, tmp_path):
    ep, _ = fake_server()
    port = free_port()
    argv = [sys.executable, "-m", "locust", "-f", str(REPO / "locustfiles" / "chat.py"), "--host", ep.base_url, "--web-port", str(port)]
    with ManagedProcess(argv, tmp_path / "locust.log", grace_s=5) as proc:
        _wait_http(f"http://127.0.0.1:{port}/")
        listeners = {line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:] if line.split()[3] == "0A"}
        log = proc.log_tail()
    assert f"0100007F:{port:04X}" in listeners, listeners  # 127.0.0.1
    assert f"00000000:{port:04X}" not in listeners  # not every interface
    assert f"Starting web interface at http://127.0.0.1:{port}" in log, log


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (apt-get install chromium)")
def test_web_ui_renders_in_a_real_browser(fake_server, tmp_path):
    ep, _ = fake_server()
    port = free_port()
    argv = [sys.executable, "-m", "locust", "-f", str(REPO / "locustfiles" / "chat.py"), "--host", ep.base_url,
            "--web-host", "127.0.0.1", "--web-port", str(port)]
    with ManagedProcess(argv, tmp_path / "locust.log", grace_s=5):
        _wait_http(f"http://127.0.0.1:{port}/")
        dom = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}",
             "--virtual-time-budget=8000", "--dump-dom", f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, timeout=90,
        ).stdout
    # the React UI rendered its start form, including the harness's own custom options
    assert "Number of users" in dom or "number of users" in dom.lower(), dom[:2000]
    low = dom.lower()
    assert "records" in low and ("harness-load" in low or "harness_load" in low), dom[:3000]



def test_bad_start_form_options_are_shown_in_the_tab(fake_server, tmp_path):
    ep, _ = fake_server()
    port = free_port()
    argv = [sys.executable, "-m", "locust", "-f", str(REPO / "locustfiles" / "chat.py"), "--host", ep.base_url, "--web-port", str(port),
            "--run-dir", str(tmp_path / "runs"), "--mlflow-experiment", ""]
    with ManagedProcess(argv, tmp_path / "locust.log", grace_s=5):
        ui = f"http://127.0.0.1:{port}"
        _wait_http(ui + "/")
        assert httpx.post(ui + "/swarm", data={"user_count": 1, "spawn_rate": 1, "quality_tasks": "gsm9k"}, timeout=10).json()["success"]
        time.sleep(1)
        llm = httpx.get(ui + "/llm/stats", timeout=5).json()
        httpx.post(ui + "/stop", timeout=30)
    # the test ran, but it says why it is not recorded: the field, the value and what is expected
    assert "gsm9k" in (llm["error"] or "") and "quality.tasks" in llm["error"], llm
    assert llm["rows"][0]["value"].startswith("this test is not recorded")
    assert not (tmp_path / "runs").exists()
