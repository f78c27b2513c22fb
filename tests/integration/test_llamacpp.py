"""Against a real llama-server serving SmolLM2: readiness, Locust, lm-eval, metrics."""

from __future__ import annotations

import json

import httpx
import pytest

from harness.load.runner import LoadRun
from harness.quality.runner import QualityRun
from harness.server.metrics import parse_metrics
from harness.spec.model import LengthDist, LoadSpec, QualitySpec

pytestmark = pytest.mark.integration


def _generated(url: str) -> float:
    return parse_metrics(httpx.get(url, timeout=10).text).samples["llamacpp:tokens_predicted_total"]


def test_ready_and_warm(llama_server):
    ep = llama_server.endpoint
    assert llama_server.ready_s > 0
    assert llama_server.model is not None and len(llama_server.model.sha256 or "") == 64
    assert httpx.get(ep.base_url + "/health").status_code == 200
    assert _generated(ep.metrics_url) >= 1  # the warm-up completion ran
    assert "--" in llama_server.argv and "--metrics" in llama_server.argv


def test_locust_records_match_server_usage(llama_server, tmp_path):
    ep = llama_server.endpoint
    before = _generated(ep.metrics_url)
    spec = LoadSpec(users=2, spawn_rate=2, duration_s=8, warmup_s=0, prompt_tokens=LengthDist(mean=40), output_tokens=LengthDist(mean=16, max=16))
    result = LoadRun(spec, ep, tmp_path).start().finish()
    after = _generated(ep.metrics_url)
    recs = result.records
    assert recs and all(r.ok for r in recs), {r.error for r in recs}
    # the client's token counts are the server's usage, and add up to the server's own counter
    assert sum(r.completion_tokens for r in recs) == after - before
    assert all(1 <= r.completion_tokens <= 16 for r in recs)
    assert all(r.prompt_tokens and r.prompt_tokens > 20 for r in recs)
    s = result.summary
    assert s.ttft_ms.p50 > 0 and s.output_tokens_per_s > 0 and s.error_rate == 0


def test_lm_eval_both_gsm8k_filters_and_ifeval(llama_server, tmp_path, data_dir, monkeypatch):
    nltk = data_dir.parent / "nltk_data"
    monkeypatch.setenv("NLTK_DATA", str(nltk))
    spec = QualitySpec(limit=2, num_concurrent=2, data_dir=str(data_dir), max_gen_toks={"gsm8k": 128, "ifeval": 128}, num_fewshot={"gsm8k": 1})
    result = QualityRun(spec, llama_server.endpoint, tmp_path).start().finish()
    gsm, ife = result.scores["gsm8k"], result.scores["ifeval"]
    assert {"exact_match_strict", "exact_match_flexible"} <= set(gsm)
    assert {"prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc"} <= set(ife)
    assert all(0.0 <= s.value <= 1.0 for s in [*gsm.values(), *ife.values()])
    assert result.samples == {"gsm8k": 2, "ifeval": 2}
    # the recorded plan says what ran: local data, shots, generation limit
    plan = {p.task: p for p in result.plans}
    assert plan["gsm8k"].num_fewshot == 1 and plan["gsm8k"].generation_kwargs["max_gen_toks"] == 128
    assert plan["ifeval"].data_source == str(data_dir.resolve())
    docs = {(f.name, json.loads(line)["doc_id"]) for f in result.sample_files for line in f.open()}
    assert len(docs) == 4  # 2 docs per task (gsm8k logs one line per filter)
    cfg = json.loads(result.results_file.read_text())["configs"]["harness_gsm8k"]
    assert cfg["dataset_path"] == "json"
