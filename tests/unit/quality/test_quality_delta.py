"""Quality under load: deltas between the loaded and the idle scoring of the same samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.outcome import load_deltas
from harness.quality.runner import QualityResult, Score


def _result(**scores: float) -> QualityResult:
    return QualityResult(
        scores={"gsm8k": {k: Score(v, 0.01) for k, v in scores.items()}},
        samples={"gsm8k": 10}, plans=[], results_file=Path("r.json"), sample_files=[], duration_s=1.0, log=Path("l"),
    )


def test_delta_is_loaded_minus_idle_for_shared_metrics():
    idle = _result(exact_match_strict=0.5, exact_match_flexible=0.6)
    loaded = _result(exact_match_strict=0.4)
    assert load_deltas(idle, loaded) == {"quality/gsm8k/exact_match_strict_load_delta": pytest.approx(-0.1)}
    assert load_deltas(idle, None) == {}
