"""benchmarks/fidelity_endpoints.py (the GPU fidelity proof's driver) against real HTTP servers in vLLM's shapes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fakes import fake_logprobs

REPO = Path(__file__).resolve().parents[2]


def test_the_script_ranks_a_noisier_server_below_the_noise_floor(tmp_path):
    servers = [fake_logprobs.start(fake_logprobs.State("m", noise=n)) for n in (0.0, 0.0, 1.5)]
    urls = [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
    try:
        proc = subprocess.run(
            [sys.executable, str(REPO / "benchmarks/fidelity_endpoints.py"), "--model", "m", "--baseline", f"base={urls[0]}",
             "--candidate", f"same={urls[1]}", "--candidate", f"noisy={urls[2]}", "--prompts", "30", "--max-tokens", "12",
             "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    finally:
        for s in servers:
            s.shutdown()
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "fidelity.json").read_text())
    passes = summary["passes"]
    assert set(passes) == {"base", "same", "noisy"}
    floor, same, noisy = (passes[k]["metrics"] for k in ("base", "same", "noisy"))
    assert floor["fidelity/top1_agreement"] == 1.0 and same["fidelity/top1_agreement"] == 1.0
    assert noisy["fidelity/top1_agreement_ci_high"] < floor["fidelity/top1_agreement"]
    assert noisy["fidelity/kl_ci_low"] > 0 and noisy["fidelity/teacher_forced"] == 1.0
    assert "| noisy (candidate vs base) |" in (tmp_path / "fidelity.md").read_text()
