"""The scrape stage counts and reports scrapes that go unanswered (a real HTTP server that starts failing)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.integration

METRICS = "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 3\n# TYPE vllm:generation_tokens_total counter\nvllm:generation_tokens_total {n}\n"


@pytest.fixture()
def flaky_metrics():
    state = {"answers": 2, "served": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if state["served"] >= state["answers"]:
                self.send_response(500)
                self.end_headers()
                return
            state["served"] += 1
            body = METRICS.format(n=100 * state["served"]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/metrics", state
    srv.shutdown()


def test_failed_scrapes_are_counted_and_reach_the_metrics(flaky_metrics, tmp_path):
    from harness.server.metrics import MetricsScraper

    url, state = flaky_metrics
    scraper = MetricsScraper(url, tmp_path / "metrics.jsonl", interval_s=0.2).start()
    assert scraper.running()
    time.sleep(1.5)
    assert scraper.progress().detail.endswith("failed")
    result = scraper.finish()
    assert not scraper.running()
    assert result.scrapes == 2 and result.failures >= 3 and "500" in (result.last_error or "")
    flat = result.flat_metrics("server/")
    assert flat["server/scrapes"] == 2 and flat["server/scrape_failures"] == result.failures
    assert flat["server/generation_tokens"] == 100 and flat["server/requests_running_max"] == 3
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2  # every answered scrape is on disk


def test_a_server_that_never_answers_does_not_start_the_background_scraper(tmp_path):
    from harness.server.launch import free_port
    from harness.server.metrics import MetricsScraper

    scraper = MetricsScraper(f"http://127.0.0.1:{free_port()}/metrics", tmp_path / "m.jsonl", interval_s=0.2).start()
    assert not scraper.running()
    result = scraper.finish()
    assert result.scrapes == 0 and result.failures == 2 and result.metrics == {}
