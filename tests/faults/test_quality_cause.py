"""lm-eval failing mid-sweep shows why on screen (first-hour finding: "lm-eval exited with code 1; see …/lm_eval.log",
the cause only in that log): real lm-eval against the fake llama-server, on a data directory whose GSM8K file is
not JSON; the variant's FAILED line on stderr carries lm-eval's own last error line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.harness_run import fake_spec

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_an_lm_eval_failure_shows_its_last_error_line_on_screen(tmp_path):
    data = tmp_path / "data"
    (data / "gsm8k").mkdir(parents=True)
    for name in ("train.jsonl", "test.jsonl"):
        (data / "gsm8k" / name).write_text("this is not JSON\n{also not\n")
    spec = fake_spec(tmp_path, "bad-data", "  - name: only", load="{users: 1, duration_s: 3, warmup_s: 0}",
                     quality=f"{{tasks: [gsm8k], limit: 2, data_dir: '{data}', idle_baseline: false}}")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "PYTHONPATH": str(REPO)}
    env.pop("HARNESS_DATA_DIR", None)  # the environment overrides the spec's quality.data_dir (defaults < YAML < env < CLI)
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(spec), "--no-compare"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("[1/1] only: FAILED")), "")
    assert "quality: lm-eval exited with code" in line and "lm_eval.log; last error in the log: " in line, proc.stderr[-4000:]
    error = line.split("last error in the log: ", 1)[1]
    assert "Error" in error or "error" in error, line
