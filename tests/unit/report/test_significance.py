"""Significance of quality differences on synthetic samples with a known answer."""

from __future__ import annotations

import json
import math

import pytest

from harness.report.significance import paired_bootstrap, read_samples, stderr_difference


def test_identical_variants_are_not_significant():
    a = {i: float(i % 3 == 0) for i in range(300)}
    d = paired_bootstrap(a, dict(a))
    assert d.delta == 0 and d.stderr == 0 and d.p_value == 1.0 and not d.significant


def test_large_paired_drop_is_significant_with_known_stderr():
    base = {i: 1.0 if i < 600 else 0.0 for i in range(1000)}
    var = {i: 1.0 if i < 500 else 0.0 for i in range(1000)}  # 100 documents flipped 1 -> 0
    d = paired_bootstrap(base, var, "quality/gsm8k/exact_match_flexible", ("bf16", "awq"), resamples=4000)
    assert d.delta == pytest.approx(-0.1) and d.n == 1000
    # per-document differences: 100 of -1, 900 of 0 -> std = sqrt(0.09 * 1000/999)
    assert d.stderr == pytest.approx(math.sqrt(0.09 * 1000 / 999) / math.sqrt(1000), rel=1e-9)
    assert d.significant and d.p_value < 0.001 and d.ci_high < 0
    assert d.ci_low == pytest.approx(-0.1 - 1.96 * d.stderr, abs=0.006)  # bootstrap ~ normal here
    assert "drop of -0.100" in d.sentence() and ": significant" in d.sentence()


def test_small_sample_difference_is_not_significant():
    base = {i: 1.0 for i in range(10)}
    var = {**base, 0: 0.0}  # one of ten flips
    d = paired_bootstrap(base, var)
    assert d.delta == pytest.approx(-0.1) and not d.significant and d.ci_high >= 0


def test_only_common_documents_are_paired():
    d = paired_bootstrap({1: 1.0, 2: 0.0, 3: 1.0}, {2: 1.0, 3: 1.0, 4: 0.0})
    assert d.n == 2 and d.delta == pytest.approx(0.5)
    empty = paired_bootstrap({1: 1.0}, {2: 1.0})
    assert empty.n == 0 and not empty.significant and math.isnan(empty.delta)


def test_read_samples_lm_eval_format(tmp_path):
    gsm = tmp_path / "samples_harness_gsm8k_2026-01-01T00-00-00.jsonl"
    rows = [{"doc_id": 0, "filter": "strict-match", "metrics": ["exact_match"], "exact_match": 0.0},
            {"doc_id": 0, "filter": "flexible-extract", "metrics": ["exact_match"], "exact_match": 1.0},
            {"doc_id": 1, "filter": "strict-match", "metrics": ["exact_match"], "exact_match": 1.0}]
    gsm.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ife = tmp_path / "samples_harness_ifeval_2026-01-01T00-00-00.jsonl"
    ife.write_text(json.dumps({"doc_id": 3, "filter": "none", "prompt_level_strict_acc": True, "inst_level_strict_acc": [True, False],
                               "prompt_level_loose_acc": False}) + "\n")
    s = read_samples([gsm, ife, tmp_path / "results.json"])
    assert s["quality/gsm8k/exact_match_strict"] == {0: 0.0, 1: 1.0}
    assert s["quality/gsm8k/exact_match_flexible"] == {0: 1.0}
    assert s["quality/ifeval/prompt_level_strict_acc"] == {3: 1.0} and s["quality/ifeval/prompt_level_loose_acc"] == {3: 0.0}


def test_unpaired_stderr_fallback():
    delta, se = stderr_difference(0.8, 0.011, 0.75, 0.012)
    assert delta == pytest.approx(-0.05) and se == pytest.approx(math.hypot(0.011, 0.012))
    assert stderr_difference(0.8, None, 0.7, 0.01)[1] is None


def test_read_samples_reads_any_task_by_its_metrics_list(tmp_path):
    arc = tmp_path / "samples_harness_arc_easy_2026-01-01T00-00-00.jsonl"
    rows = [{"doc_id": i, "filter": "none", "metrics": ["acc", "acc_norm"], "acc": float(i % 2), "acc_norm": 1.0} for i in range(4)]
    arc.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    nq = tmp_path / "samples_nq_open_2026-01-01T00-00-00.jsonl"  # a group member, under its own lm-eval name
    nq.write_text(json.dumps({"doc_id": 7, "filter": "remove_whitespace", "metrics": ["exact_match"], "exact_match": 1.0,
                              "extra": [1, 0]}) + "\n")
    s = read_samples([arc, nq])
    assert s["quality/arc_easy/acc"] == {0: 0.0, 1: 1.0, 2: 0.0, 3: 1.0}
    assert s["quality/arc_easy/acc_norm"] == {i: 1.0 for i in range(4)}
    assert s["quality/nq_open/exact_match_remove_whitespace"] == {7: 1.0}
    assert not any("extra" in k for k in s)


def test_the_detectable_drop_is_only_stated_for_zero_one_scores():
    a = {i: float(i % 2) for i in range(40)}
    assert not math.isnan(paired_bootstrap(a, {i: 1.0 for i in range(40)}).mdd)
    bleu = paired_bootstrap({i: 0.3 for i in range(40)}, {i: 0.2 + 0.01 * (i % 3) for i in range(40)})
    assert math.isnan(bleu.mdd) and bleu.mdd_text() == ""


def test_a_sample_too_small_for_any_drop_says_so():
    d = paired_bootstrap({i: 1.0 for i in range(6)}, {i: float(i > 0) for i in range(6)})
    assert d.mdd >= 1.0 and d.mdd_text() == "n=6: too few samples to detect any drop" and d.mdd_text() in d.sentence()
