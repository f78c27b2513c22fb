"""`quality.timeout_s` is a deadline, not a check after lm-eval exits; unique run folders."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.integration


def test_a_stalled_quality_stage_is_stopped_at_its_deadline(fake_server, tmp_path, data_dir, monkeypatch):
    from harness.outcome import VariantOutcome
    from harness.pipeline.presenter import Presenter
    from harness.pipeline.variant import _Measurement
    from harness.server.launch import RunningServer
    from harness.spec import build_spec, resolve_variants

    ep, _ = fake_server(mode="slow", ttft_s=600)
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    spec = build_spec({"name": "deadline", "load": {"enabled": False}, "metrics": {"enabled": False},
                       "quality": {"tasks": ["gsm8k"], "limit": 1, "timeout_s": 25}}, {}, [])
    variant = resolve_variants(spec)[0]
    outcome = VariantOutcome(variant=variant, folder=tmp_path / "v")
    running = RunningServer(endpoint=ep, model=None)
    t = time.time()
    _Measurement(spec, running, outcome, Presenter(lambda m: None)).run()
    took = time.time() - t
    assert took < 25 + 45, f"the 25 s deadline held the variant {took:.0f}s"
    (failure,) = outcome.failures
    assert failure.stage == "quality" and "did not finish within quality.timeout_s=25s and was stopped" in failure.message


def test_two_sweeps_started_in_the_same_second_get_their_own_folders(tmp_path):
    from harness.errors import SpecError
    from harness.tracking.state import new_run_folder

    folders = {new_run_folder(tmp_path, "same") for _ in range(20)}
    assert len(folders) == 20 and all(f.is_dir() and f.parent == tmp_path for f in folders)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SpecError, match="tracking.run_dir: .* is a file"):
        new_run_folder(blocker, "x")
