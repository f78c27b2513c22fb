"""quality.idle_baseline through the real CLI: lm-eval scores the same samples idle, then under load."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_run_smoke import REPO, _harness, _runs
from tests.fakes.fake_llama_server import install as install_fake_llama

pytestmark = pytest.mark.e2e


def test_idle_and_loaded_scores_and_delta_are_logged(tmp_path: Path, data_dir: Path):
    fake, model = install_fake_llama(tmp_path)
    spec = tmp_path / "qul.yaml"
    spec.write_text(
        f"""
name: qul
server:
  kind: llamacpp
  model: {model}
  served_model_name: fake-model
  env: {{PYTHONPATH: "{REPO}"}}
  llamacpp: {{binary: "{fake}"}}
load: {{users: 2, duration_s: 4, warmup_s: 0}}
quality: {{tasks: [gsm8k], limit: 2, num_fewshot: {{gsm8k: 0}}, idle_baseline: true, data_dir: "{data_dir}"}}
tracking: {{run_dir: "{tmp_path / 'runs'}"}}
"""
    )
    proc = _harness(["run", str(spec), "--no-compare"], tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "idle baseline" in proc.stderr
    _, _, children = _runs(tmp_path, "qul")
    m = children[0].data.metrics
    assert m["quality_idle/gsm8k/samples"] == 2 and m["quality/gsm8k/samples"] == 2
    # the fake answers "hello" either way: same score idle and loaded, a delta of exactly 0
    assert m["quality/gsm8k/exact_match_strict_load_delta"] == pytest.approx(
        m["quality/gsm8k/exact_match_strict"] - m["quality_idle/gsm8k/exact_match_strict"]
    )
    assert "quality/gsm8k/exact_match_flexible_load_delta" in m
    # llama.cpp computes on this CPU: the load waited for lm-eval's first request (its boot stays out of the window)
    import json
    import re
    from datetime import datetime

    folder = next((tmp_path / "runs").glob("qul-*/*/quality/lm_eval.log")).parent.parent
    sending = re.search(r"^(\S+) INFO .*Running generate_until requests", (folder / "quality" / "lm_eval.log").read_text(), re.M)
    assert sending, "lm-eval's log has no 'Running generate_until requests' line"
    sent_at = datetime.strptime(sending.group(1), "%Y-%m-%d:%H:%M:%S").timestamp()
    first_load = min(json.loads(line)["t_start"] for line in (folder / "load" / "records.jsonl").read_text().splitlines() if line.strip())
    assert first_load >= sent_at - 1.0, (first_load, sent_at)
