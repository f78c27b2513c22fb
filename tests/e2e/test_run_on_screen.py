"""What `harness run` shows: rich bars on a real terminal (a pseudo-terminal), and a loud failure for an empty load window."""

from __future__ import annotations

import os
import re
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_run_smoke import REPO
from tests.fakes.harness_run import fake_spec

pytestmark = pytest.mark.e2e


def _run_in_pty(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    if proc.poll() is None:
        proc.kill()
    os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_gets_bars_with_quality_requests_done_of_total(tmp_path: Path, data_dir: Path):
    spec = fake_spec(tmp_path, "tty", "  - name: only", load="{users: 2, duration_s: 6, warmup_s: 0}",
                     quality=f"{{tasks: [gsm8k], limit: 3, num_fewshot: {{gsm8k: 0}}, data_dir: '{data_dir}'}}")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "COLUMNS": "160", "TERM": "xterm"}
    env.pop("HARNESS_PROGRESS", None)
    code, text = _run_in_pty([sys.executable, "-m", "harness", "run", str(spec), "--no-compare"], env, timeout=600)
    assert code == 0, text[-3000:]
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # colours and cursor moves
    assert "━" in text, "no rich bar drawn on a terminal"
    assert "variants" in text and "1/1" in text
    assert re.search(r"quality\s.*[0-3]/3\s+requests", text), "no quality bar with lm-eval's requests done of 3"
    assert re.search(r"\[1/1\] \S+: ok \(", text)  # the plain lines still print above the bars


def test_a_load_window_with_no_finished_request_fails_the_variant_loudly(tmp_path: Path):
    """Every request outlasts the window (the CI smoke run on a busy machine): no silent 'ok' with latencies missing."""
    from tests.e2e.test_run_smoke import _harness, _runs

    spec = fake_spec(tmp_path, "slow", '  - name: only\n    server: {env: {FAKE_TTFT_S: "30"}}',
                     load="{users: 1, duration_s: 2, warmup_s: 1, request_timeout_s: 6}")
    proc = _harness(["run", str(spec), "--no-compare"], tmp_path, timeout=600)
    assert "no request started in the measured window finished" in proc.stderr, proc.stderr[-3000:]
    assert "lengthen load.duration_s" in proc.stderr
    _, _, children = _runs(tmp_path, "slow")
    assert children[0].info.status == "FAILED"
