"""Quality inputs are checked before anything is launched (first-hour finding: lm-eval failed after 47 s)."""

from __future__ import annotations

import pytest

from harness.errors import QualityError
from harness.quality.preflight import check as preflight
from harness.quality.tasks import resolve_data_dir
from harness.spec.model import QualitySpec


def test_offline_without_a_data_dir_fails_before_launching(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ../shared next to it
    env = {"HF_DATASETS_OFFLINE": "1"}
    with pytest.raises(QualityError, match=r"quality.tasks: GSM8K \(Hub dataset openai/gsm8k; local data: a folder set as HARNESS_DATA_DIR "
                                           r"\(or quality.data_dir\)/gsm8k/\{train,test\}.jsonl\); ifeval .* need the Hub, and "
                                           r"HF_DATASETS_OFFLINE/HF_HUB_OFFLINE is set"):
        preflight(QualitySpec(), env)
    assert preflight(QualitySpec(enabled=False), env) is None


def test_shared_datasets_next_to_the_checkout_are_found_like_the_quick_start(tmp_path, monkeypatch, data_dir):
    work = tmp_path / "checkout"
    work.mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "datasets").symlink_to(data_dir)
    (tmp_path / "shared" / "nltk_data").mkdir()
    monkeypatch.chdir(work)
    env: dict[str, str] = {"HF_DATASETS_OFFLINE": "1"}
    found = preflight(QualitySpec(), env)
    assert found == (tmp_path / "shared" / "datasets").resolve() == resolve_data_dir(QualitySpec(), env)
    assert env["NLTK_DATA"] == str((tmp_path / "shared" / "nltk_data").resolve())
