"""The engine registry: what each engine declares, and that a new engine is one class the whole harness picks up."""

from __future__ import annotations

import re
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from harness.errors import SpecError
from harness.load.tokens import ServerCounter
from harness.report.decision import rooflines
from harness.tracking.reader import RunRecord
from harness.server import metric_names
from harness.server.endpoint import Endpoint
from harness.server.engines import ENGINES, Engine, Launch, MetricNames, engine, engines_behind, register, slot_knobs
from harness.server.engines.base import cause
from harness.server.launch import plan
from harness.server.metrics import parse_metrics, summarize
from harness.server.process import likely_cause
from harness.spec import build_spec, resolve_variants
from harness.spec.gates import GatesSpec
from harness.spec.model import ResolvedVariant, ServerSpec
from harness.tracking.knobs import knob_metrics, quantization, variant_tags

HARNESS = Path(__file__).resolve().parents[3] / "harness"

# the one mixed table harness/server/metric_names.py held before the registry (vLLM 0.26.0, llama.cpp --metrics)
OLD_GAUGES = {
    "requests_running": ["vllm:num_requests_running", "llamacpp:requests_processing"],
    "requests_waiting": ["vllm:num_requests_waiting", "llamacpp:requests_deferred"],
    "kv_cache_usage": ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "llamacpp:kv_cache_usage_ratio"],
    "kv_cache_tokens": ["llamacpp:kv_cache_tokens"],
    "busy_slots_per_decode": ["llamacpp:n_busy_slots_per_decode"],
}
OLD_COUNTERS = {
    "prompt_tokens": ["vllm:prompt_tokens_total", "llamacpp:prompt_tokens_total"],
    "generation_tokens": ["vllm:generation_tokens_total", "llamacpp:tokens_predicted_total"],
    "prefix_cache_queries": ["vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"],
    "prefix_cache_hits": ["vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"],
    "prompt_tokens_cached": ["vllm:prompt_tokens_cached_total", "llamacpp:prompt_tokens_cached_total"],
    "preemptions": ["vllm:num_preemptions_total"],
    "requests_success": ["vllm:request_success_total"],
    "decode_calls": ["llamacpp:n_decode_total"],
    "prompt_seconds": ["llamacpp:prompt_seconds_total"],
    "generation_seconds": ["llamacpp:tokens_predicted_seconds_total"],
    # added since the registry (vLLM 0.26.0's spec-decode and native KV-offload counters)
    "spec_decode_drafts": ["vllm:spec_decode_num_drafts_total"],
    "spec_decode_draft_tokens": ["vllm:spec_decode_num_draft_tokens_total"],
    "spec_decode_accepted_tokens": ["vllm:spec_decode_num_accepted_tokens_total"],
    "kv_offload_load_bytes": ["vllm:kv_offload_load_bytes_total"],
    "kv_offload_load_s": ["vllm:kv_offload_load_time_total"],
    "kv_offload_store_bytes": ["vllm:kv_offload_store_bytes_total"],
    "kv_offload_store_s": ["vllm:kv_offload_store_time_total"],
}
OLD_HISTOGRAMS = {
    "queue_time_s": ["vllm:request_queue_time_seconds"],
    "ttft_s": ["vllm:time_to_first_token_seconds"],
    "itl_s": ["vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"],
    "tpot_s": ["vllm:request_time_per_output_token_seconds"],
    "e2e_s": ["vllm:e2e_request_latency_seconds"],
    "prefill_s": ["vllm:request_prefill_time_seconds"],
    "decode_s": ["vllm:request_decode_time_seconds"],
    "inference_s": ["vllm:request_inference_time_seconds"],
}


def _server(server: dict) -> ServerSpec:
    return resolve_variants(build_spec({"name": "x", "server": server}, {}, []))[0].server


# ---------------------------------------------------------------- the registered engines


def test_every_spec_kind_has_an_engine_and_no_more():
    kinds = set(typing.get_args(ServerSpec.model_fields["kind"].annotation))
    assert kinds == set(ENGINES) == {"llamacpp", "vllm", "openai"}
    assert all(engine(k).kind == k for k in kinds)
    with pytest.raises(SpecError, match="no engine 'sglang'; known: llamacpp, openai, vllm"):
        engine("sglang")


def test_declared_sections_and_knobs_exist_in_the_spec():
    for eng in ENGINES.values():
        if eng.section is None:
            continue
        fields = type(getattr(ServerSpec(), eng.section)).model_fields
        assert set(eng.knobs) <= set(fields), eng.kind
        assert eng.slots_knob is None or eng.slots_knob in eng.knobs


@pytest.mark.parametrize(("merged", "old"), [(metric_names.GAUGES, OLD_GAUGES), (metric_names.COUNTERS, OLD_COUNTERS),
                                             (metric_names.HISTOGRAMS, OLD_HISTOGRAMS)], ids=["gauges", "counters", "histograms"])
def test_merged_metric_names_are_the_old_table(merged, old):
    assert {k: sorted(v) for k, v in merged.items()} == {k: sorted(v) for k, v in old.items()}
    for name, candidates in old.items():  # within one engine the candidates keep their order (current name first)
        for prefix in ("vllm:", "llamacpp:"):
            assert [c for c in merged[name] if c.startswith(prefix)] == [c for c in candidates if c.startswith(prefix)]


def test_each_engine_owns_its_prefix():
    for eng in ENGINES.values():
        for family in (eng.metric_names.gauges, eng.metric_names.counters, eng.metric_names.histograms):
            assert all(c.startswith(f"{eng.kind}:") for names in family.values() for c in names), eng.kind


def test_llamacpp_gets_its_key_by_environment_and_a_file(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-llama-secret")
    s = _server({"api_key_env": "MY_KEY", "env": {"A": "1"}})
    launch = engine("llamacpp").launch(s, "/m/model.gguf", 8080)
    assert launch.env == {"A": "1", "LLAMA_API_KEY": "sk-llama-secret"} and launch.inherits_env
    assert "sk-llama-secret" not in " ".join(launch.argv)
    assert engine("llamacpp").model_form == "file" and engine("vllm").model_form == "repo"


def test_vllm_in_docker_inherits_nothing_and_tags_its_image():
    docker = _server({"kind": "vllm", "vllm": {"launcher": "docker", "docker_image": "vllm/vllm-openai:v0.26.0"}})
    assert not engine("vllm").launch(docker, "/models/m", 8000).inherits_env
    assert engine("vllm").version_tag(docker) == "v0.26.0"
    assert engine("vllm").version_tag(_server({"kind": "vllm"})) == "" and engine("llamacpp").version_tag(_server({})) == ""


def test_attach_endpoint_and_launch_refused():
    s = _server({"kind": "openai", "openai": {"base_url": "http://h:1/v1"}})
    ep = engine("openai").endpoint(s, None)
    assert ep.base_url == "http://h:1" and ep.metrics_url == "http://h:1/metrics" and ep.engine == "openai"
    quiet = _server({"kind": "openai", "openai": {"base_url": "http://h:1", "metrics_url": ""}})
    assert engine("openai").endpoint(quiet, None).metrics_url is None
    with pytest.raises(TypeError, match="attaches"):
        engine("openai").launch(s, "m", 1)


def test_an_attached_endpoint_may_be_any_launching_engine():
    assert [e.kind for e in engines_behind("vllm")] == ["vllm", "llamacpp"]
    assert [e.kind for e in engines_behind("llamacpp")] == ["llamacpp", "vllm"]
    assert [e.kind for e in engines_behind("openai")] == [e.kind for e in engines_behind("unknown")] == ["llamacpp", "vllm"]
    assert slot_knobs("vllm") == ["knob/max_num_seqs"] and slot_knobs(None) == ["knob/parallel", "knob/max_num_seqs"]


def test_engine_specific_causes_only_for_that_engine():
    kv = "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization`"
    assert "KV cache" in likely_cause(kv, "vllm") and "KV cache" in likely_cause(kv)
    assert likely_cause(kv, "llamacpp") is None  # a vLLM text means nothing in a llama-server log
    assert "out of memory" in likely_cause("failed to allocate buffer: out of memory", "llamacpp")


def test_a_launching_engine_must_define_launch():
    with pytest.raises(TypeError, match="does not define launch"):
        type("Broken", (Engine,), {"kind": "broken"})


def test_no_engine_branch_outside_the_registry():
    """`if kind == "vllm"` and friends live in harness/server/engines/ only (spec/ declares the sections)."""
    branch = re.compile(r'\.(llamacpp|vllm)\b|(==|!=)\s*"(llamacpp|vllm|openai)"|"(llamacpp|vllm|openai)"\s*(==|!=)'
                        r"|kind\s+in\s*[(\[{]|\.engine\s*(==|!=)")
    allowed = {('loadgen/workload.py', 'fmt == "openai"')}  # a dataset line format, not an engine
    hits = []
    for path in sorted(HARNESS.rglob("*.py")):
        rel = path.relative_to(HARNESS).as_posix()
        if rel.startswith(("server/engines/", "spec/")):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if branch.search(line) and not any(rel == f and s in line for f, s in allowed):
                hits.append(f"harness/{rel}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


# ---------------------------------------------------------------- a new engine is one class


class ToySettings(BaseModel):
    slots: int = 1


class Toy(Engine):
    """A throwaway engine, defined here only: nothing else in the harness knows it."""

    kind = "toy"
    model_form = "file"
    knobs = ("slots",)
    slots_knob = "slots"
    key_env = "TOY_API_KEY"
    default_bits_per_weight = 8.0
    metric_names = MetricNames(gauges={"requests_running": ("toy:running",)}, counters={"generation_tokens": ("toy:tokens_out_total",)},
                               histograms={"ttft_s": ("toy:ttft_seconds",)})
    causes = (cause(r"ran out of marbles", "the toy engine lost its marbles: add marbles"),)

    def settings(self, server: ServerSpec) -> BaseModel:
        return ToySettings(slots=int(server.env.get("TOY_SLOTS", "1")))

    def launch(self, server: ServerSpec, model: str, port: int) -> Launch:
        return Launch([Path(sys.executable).name, "-m", "toy_server", "--weights", model, "--port", str(port), *server.extra_args], self.env(server))

    def quantization(self, server: ServerSpec) -> str:
        return "toy-q8"

    def version_tag(self, server: ServerSpec) -> str:
        return "toy-1.0"

    def tokenize_body(self, model: str, text: str) -> dict[str, str]:
        return {"toy_text": text}


@pytest.fixture
def toy():
    eng = register(Toy())
    yield eng
    del ENGINES["toy"]


def _toy_variant(tmp_path: Path, **server) -> ResolvedVariant:
    weights = tmp_path / "toy-weights.gguf"
    weights.write_bytes(b"toy")
    # the spec's `kind` is a Literal of the shipped engines: a toy is slipped in past validation
    spec = ServerSpec(model=str(weights), served_model_name="toy", **server).model_copy(update={"kind": "toy"})
    return ResolvedVariant(name="toy", server=spec)


def test_a_registered_engine_is_launched_with_its_argv_and_env(toy, tmp_path, monkeypatch):
    monkeypatch.setenv("TOY_SECRET", "sk-toy")
    variant = _toy_variant(tmp_path, api_key_env="TOY_SECRET", extra_args=["--fast"], env={"TOY_SLOTS": "3"})
    planned = plan(variant.server, 9123)
    assert planned.engine is toy and planned.model.sha256
    exe = Path(planned.launch.argv[0])
    assert exe.is_absolute() and exe.name == Path(sys.executable).name  # the executable found, as for any engine
    assert planned.launch.argv[1:] == ["-m", "toy_server", "--weights", planned.model.location, "--port", "9123", "--fast"]
    assert planned.launch.env == {"TOY_SLOTS": "3", "TOY_API_KEY": "sk-toy"}
    assert planned.endpoint.engine == "toy" and planned.endpoint.base_url == "http://127.0.0.1:9123"


def test_a_registered_engine_is_tracked_with_its_knobs_and_tags(toy, tmp_path):
    variant = _toy_variant(tmp_path, env={"TOY_SLOTS": "3"})
    assert knob_metrics(variant) == {"knob/slots": 3.0}
    assert quantization(variant) == "toy-q8" and variant_tags(variant)["harness.engine_version"] == "toy-1.0"


def test_a_registered_engine_s_metric_names_are_mapped(toy):
    assert metric_names.GAUGES["requests_running"][-1] == "toy:running" and "toy:ttft_seconds" in metric_names.HISTOGRAMS["ttft_s"]
    def scrape(running: int, tokens: int, count: int, total: float, t: float):
        return parse_metrics(f"toy:running {running}\ntoy:tokens_out_total {tokens}\n"
                             f'toy:ttft_seconds_bucket{{le="0.1"}} {count}\ntoy:ttft_seconds_bucket{{le="+Inf"}} {count}\n'
                             f"toy:ttft_seconds_sum {total}\ntoy:ttft_seconds_count {count}\n", t=t)

    before, after = scrape(0, 10, 0, 0.0, 0), scrape(2, 70, 4, 0.2, 1)
    m = summarize(before, after, [before, after])
    assert m["generation_tokens"] == 60 and m["requests_running_max"] == 2 and m["ttft_s_count"] == 4 and m["ttft_s_mean"] == pytest.approx(0.05)


def test_a_registered_engine_tokenizes_and_diagnoses_its_own_way(toy):
    counter = ServerCounter(Endpoint(base_url="http://127.0.0.1:9", model="toy", engine="toy"))
    assert counter.shapes == ["toy", "llamacpp", "vllm"] and counter._body("toy", "a b") == {"toy_text": "a b"}
    assert likely_cause("boom: ran out of marbles", "toy") == "the toy engine lost its marbles: add marbles"
    assert likely_cause("boom: ran out of marbles", "vllm") is None


def test_a_registered_engine_reaches_the_roofline(toy):
    run = RunRecord("id", "toy", "0", None, "ok", {"knob/slots": 4.0, "perf/output_tokens_per_s": 10.0}, {},
                    {"harness.model": "org/Toy-1B", "harness.engine": "toy", "harness.gpu": "1x NVIDIA H100 80GB HBM3"})
    (roof,), _ = rooflines([run], GatesSpec())
    assert roof.batch == 4 and roof.bits_per_weight == 8.0 and roof.params == 1e9


def test_unregistered_again_it_is_gone(toy):
    del ENGINES["toy"]
    try:
        assert "toy:running" not in metric_names.GAUGES["requests_running"]
        with pytest.raises(SpecError):
            engine("toy")
    finally:
        register(toy)
