"""Shared test configuration: where ../shared is, and tier prerequisites."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HARNESS_SHARED_DIR", REPO.parent / "shared")).resolve()
FIXTURES = SHARED / "fixtures" / "vllm-0.26.0"
DATASETS = SHARED / "datasets"
NLTK = SHARED / "nltk_data"


@pytest.fixture(scope="session")
def vllm_fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"vLLM fixtures not found at {FIXTURES} (set HARNESS_SHARED_DIR)")
    return FIXTURES


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATASETS / "gsm8k" / "test.jsonl").is_file():
        pytest.skip(f"datasets not found at {DATASETS} (set HARNESS_SHARED_DIR)")
    return DATASETS
