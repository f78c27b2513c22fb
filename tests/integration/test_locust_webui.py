"""The locustfile works by hand: Locust's web UI starts a swarm and shows ttft/tpot/chat stats."""

from __future__ import annotations

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


def test_web_ui_swarm_shows_llm_stats(fake_server, tmp_path):
    ep, state = fake_server(ttft_s=0.03, interval_s=0.005)
    port = free_port()
    records = tmp_path / "records.jsonl"
    argv = [sys.executable, "-m", "locust", "-f", str(REPO / "locustfiles" / "chat.py"), "--host", ep.base_url,
            "--web-host", "127.0.0.1", "--web-port", str(port), "--records", str(records)]
    with ManagedProcess(argv, tmp_path / "locust.log", grace_s=5) as proc:
        ui = f"http://127.0.0.1:{port}"
        _wait_http(ui + "/")
        page = httpx.get(ui + "/").text
        assert "locust" in page.lower()
        r = httpx.post(ui + "/swarm", data={"user_count": 2, "spawn_rate": 2, "host": ep.base_url}, timeout=10)
        assert r.status_code == 200 and r.json()["success"], r.text
        names: set[str] = set()
        end = time.time() + 30
        while time.time() < end and not {"chat", "ttft", "tpot"} <= names:
            time.sleep(0.5)
            stats = httpx.get(ui + "/stats/requests", timeout=5).json()
            names = {s["name"] for s in stats["stats"]}
        httpx.get(ui + "/stop", timeout=5)
        assert {"chat", "ttft", "tpot"} <= names, (names, proc.log_tail())
        ttft = next(s for s in stats["stats"] if s["name"] == "ttft")
        assert 25 <= ttft["median_response_time"] <= 200  # programmed 30 ms (Locust rounds)
    # the model was discovered from /v1/models and raw records were written
    lines = records.read_text().splitlines()
    assert lines and '"ok":true' in lines[0]
    assert state.requests >= len(lines)


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
