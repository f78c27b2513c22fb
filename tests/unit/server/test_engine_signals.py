"""vLLM 0.26.0's speculative-decoding and native KV-offload counters: mapped, derived, logged as `server/*` with a fact.

The fixture (tests/fixtures/vllm_spec_decode_metrics.txt) is vLLM's exposition format (lines of a real capture, plus
the counters vllm/v1/spec_decode/metrics.py and .../kv_connector/v1/offloading/metrics.py register): 1000 drafts of
3 tokens, 1800 accepted; 2.5 GB loaded in 0.8 s and 6 GB stored in 1.9 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.server.metrics import Scrape, ScrapeResult, parse_metrics, summarize

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "vllm_spec_decode_metrics.txt"
SIGNALS = ("spec_decode_drafts", "spec_decode_draft_tokens", "spec_decode_accepted_tokens", "spec_decode_acceptance_rate",
           "spec_decode_accepted_per_draft", "kv_offload_load_bytes", "kv_offload_load_s", "kv_offload_store_bytes", "kv_offload_store_s")


def _window(before_text: str | None, after_text: str) -> dict[str, float]:
    before = parse_metrics(before_text, t=0.0) if before_text is not None else Scrape(0.0, {}, {})
    after = parse_metrics(after_text, t=10.0)
    return summarize(before, after, [before, after])


def test_spec_decode_and_kv_offload_counters_become_window_deltas_and_rates():
    text = FIXTURE.read_text()
    m = _window(None, text)
    assert m["spec_decode_drafts"] == 1000 and m["spec_decode_draft_tokens"] == 3000 and m["spec_decode_accepted_tokens"] == 1800
    assert m["spec_decode_acceptance_rate"] == pytest.approx(0.6)
    assert m["spec_decode_accepted_per_draft"] == pytest.approx(1.8)  # vLLM's "mean acceptance length" is 1 + this
    assert m["kv_offload_load_bytes"] == pytest.approx(2.5e9) and m["kv_offload_load_s"] == pytest.approx(0.8)
    assert m["kv_offload_store_bytes"] == pytest.approx(6e9) and m["kv_offload_store_s"] == pytest.approx(1.9)
    # the per-position counter is summed over its positions by the parser, never taken for the total
    assert parse_metrics(text).samples["vllm:spec_decode_num_accepted_tokens_per_pos_total"] == 1800
    # a window is a delta: half of every counter before it leaves half in it, the rates unchanged
    half = "\n".join(_halve(line) for line in text.splitlines()) + "\n"
    w = _window(half, text)
    assert w["spec_decode_drafts"] == 500 and w["spec_decode_acceptance_rate"] == pytest.approx(0.6)
    assert w["spec_decode_accepted_per_draft"] == pytest.approx(1.8)


def _halve(line: str) -> str:
    if line.startswith("vllm:") and "_total{" in line:
        name, value = line.rsplit(" ", 1)
        return f"{name} {float(value) / 2}"
    return line


def test_no_draft_in_the_window_no_rates():
    text = FIXTURE.read_text()
    m = _window(text, text)  # nothing drafted between the two scrapes
    assert m["spec_decode_drafts"] == 0
    assert "spec_decode_acceptance_rate" not in m and "spec_decode_accepted_per_draft" not in m


def test_logged_as_server_metrics_with_their_facts(tmp_path):
    flat = ScrapeResult(_window(None, FIXTURE.read_text()), 2, 0, tmp_path / "m.jsonl").flat_metrics()
    assert flat["server/spec_decode_acceptance_rate"] == pytest.approx(0.6)
    facts = {name: getattr(flat[f"server/{name}"], "fact", None) for name in SIGNALS}
    assert all(f is not None for f in facts.values()), facts
    assert facts["spec_decode_acceptance_rate"].direction == "higher" and facts["spec_decode_acceptance_rate"].unit == "fraction"
    assert facts["spec_decode_accepted_per_draft"].direction == "higher"
    assert facts["kv_offload_load_bytes"].unit == "bytes" and facts["kv_offload_store_s"].unit == "s"
    assert facts["spec_decode_drafts"].direction == "neither"


def test_the_tracking_contract_knows_the_new_names():
    from harness.tracking import contract

    for name in SIGNALS:
        assert contract.is_metric(f"server/{name}") and contract.fact(f"server/{name}") is not None, name
    assert contract.higher_is_better("server/spec_decode_acceptance_rate")
    assert contract.is_series("series/server/spec_decode_accepted_tokens_per_s")


def test_real_captures_without_these_counters_are_unchanged(vllm_fixtures):
    idle = parse_metrics((vllm_fixtures / "metrics_idle.txt").read_text(), t=0.0)
    after = parse_metrics((vllm_fixtures / "metrics_after_load.txt").read_text(), t=10.0)
    m = summarize(idle, after, [idle, after])
    assert not [k for k in m if k.startswith(("spec_decode", "kv_offload"))]
    # the signals already mapped are still there
    assert 0 < m["prefix_cache_hit_rate"] <= 1 and "preemptions" in m and m["prompt_tokens"] > 0


def test_a_real_h100_capture_of_vllm_0_26_reads_the_same_names():
    """Two real scrapes of vLLM 0.26.0 serving with n-gram speculative decoding (tests/fixtures/vllm-0.26.0-h100/):
    the names mapped from vLLM's source are the ones it exposes; the window's deltas and rates come out exact."""
    real = FIXTURE.parent / "vllm-0.26.0-h100"
    m = _window((real / "metrics_ngram_before.txt").read_text(), (real / "metrics_ngram_after.txt").read_text())
    assert m["spec_decode_drafts"] == 34240 and m["spec_decode_draft_tokens"] == 100580
    assert m["spec_decode_accepted_tokens"] == 100580 and m["spec_decode_acceptance_rate"] == 1.0  # random weights repeat
    assert m["spec_decode_accepted_per_draft"] == pytest.approx(100580 / 34240)
    assert m["prefix_cache_hit_rate"] == pytest.approx(273680 / 432312) and m["preemptions"] == 0
    assert not any(k.startswith("kv_offload") for k in m)  # no offloading configured: no metric, not 0


def test_no_tpot_spread_when_the_histogram_cannot_resolve_it():
    """On the H100 every TPOT fell in vLLM's lowest bucket [0, 10 ms]: p50 and p90 interpolated in one bucket read
    0.005 and 0.009, an "80% spread" that is the bucket's width; no spread (and no warning) is derived from it."""
    from harness.server.metrics import noisy_server

    real = FIXTURE.parent / "vllm-0.26.0-h100"
    m = _window((real / "metrics_ngram_before.txt").read_text(), (real / "metrics_ngram_after.txt").read_text())
    assert m["tpot_s_p50"] < m["tpot_s_p90"] <= 0.01 and "tpot_s_spread" not in m and noisy_server(m) is None
    # a histogram that does resolve it still gives the spread
    lines = ["# TYPE vllm:request_time_per_output_token_seconds histogram"]
    for le, c in (("0.01", 40), ("0.025", 50), ("0.05", 100), ("+Inf", 100)):
        lines.append(f'vllm:request_time_per_output_token_seconds_bucket{{le="{le}"}} {c}')
    lines += ["vllm:request_time_per_output_token_seconds_sum 2.0", "vllm:request_time_per_output_token_seconds_count 100"]
    w = _window(None, "\n".join(lines) + "\n")
    assert w["tpot_s_spread"] > 0.5 and noisy_server(w) is not None
