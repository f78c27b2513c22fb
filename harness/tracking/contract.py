"""The MLflow contract: every metric, param and tag name the harness writes, and what each metric means.

Metric names and facts are derived from the typed records, not typed again: the writer logs
`VariantOutcome.metrics()` (load summary, rate scan and steps, quality, idle quality and its
`_load_delta`s, fidelity and its noise floor, server summary, timings) plus `knob/*`; this module runs that same code on
outcomes filled with placeholder values, and each value carries the fact (direction, unit, label) its record declares
next to it (harness/facts.py). Names holding a scan point or step index are pattern families
(`perf/scan/<n>/ttft_p95_ms`). `fact` and `higher_is_better` are lookups: a quality score's direction is lm-eval's own
(its metric registry), an unknown name has none (never a guess). Consumers use the constants at the end, each checked
against the derived names on import; gate and objective names of a spec are checked by `check_gates`.
"""

from __future__ import annotations

import difflib
import math
import re
import types
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from harness.errors import HarnessError, SpecError
from harness.facts import FAMILIES, KNOB, NEITHER, MetricFact, fact_of

_N = 7
"""Placeholder number: a scan point or step index shows up as the path segment '7'."""
KNOB_PREFIX = "knob/"
CI_SUFFIXES = ("_ci_low", "_ci_high")


# ------------------------------------------------------------------ derivation

def _value(hint: Any, depth: int, full: bool, n: float) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return _value(rest[0], depth, full, n) if rest and (full or len(rest) == len(args)) else None
    if origin is Literal:
        return args[0]
    if origin is list:
        item = args[0] if args else None
        # one level of nested records (scan points, steps): with optionals set and unset; their indices always _N
        return [_fill(item, depth + 1, True), _fill(item, depth + 1, False)] if depth == 0 and is_dataclass(item) else []
    if origin is dict:
        return {}
    if hint is bool:
        return True
    if hint in (int, float):
        return hint(n if depth == 0 else _N)
    if hint is str:
        return ""
    if hint is Path:
        return Path(".")
    if is_dataclass(hint):
        try:
            return _fill(hint, depth, full, n)
        except HarnessError:  # a validated settings record rejects placeholders: its defaults then
            return hint()
    construct = getattr(hint, "model_construct", None)
    return construct() if construct is not None else None


def _fill(cls: Any, depth: int = 0, full: bool = True, n: float = _N) -> Any:
    """An instance of dataclass `cls` with every field set (`full`) or its optionals None; numbers `n`."""
    hints = get_type_hints(cls)
    return cls(**{f.name: _value(hints[f.name], depth, full, n) for f in fields(cls) if f.init})


def _server_summary() -> dict[str, float]:
    """Every name the /metrics summary can produce: one scrape carrying every mapped metric."""
    from harness.server.metric_names import COUNTERS, GAUGES, HISTOGRAMS
    from harness.server.metrics import Scrape, summarize

    samples = {names[0]: 1.0 for names in (*COUNTERS.values(), *GAUGES.values())}
    for names in HISTOGRAMS.values():
        samples |= {names[0] + "_count": 2.0, names[0] + "_sum": 2.0}
    # two observations in two buckets: a histogram that resolves its p50 from its p90 (so the spread is derived too)
    after = Scrape(1.0, samples, {names[0]: [(1.0, 1.0), (2.0, 2.0), (math.inf, 2.0)] for names in HISTOGRAMS.values()})
    return summarize(Scrape(0.0, {}, {}), after, [after])


def filled_outcome(n: float = _N) -> Any:
    """A VariantOutcome with every stage's result filled (numbers `n`; scan points and step indices _N), every known
    quality task scored: what the writer logs for it is every name a single run can log."""
    from harness.outcome import VariantOutcome
    from harness.quality.results import KNOWN_METRICS, Score
    from harness.quality.samples import ReasoningStats
    from harness.server.metrics import ScrapeResult

    outcome = _fill(VariantOutcome, n=n)
    for quality in (outcome.quality, outcome.quality_idle):
        quality.scores = {task: {m: Score(float(n), 0.1) for m in names} for task, names in KNOWN_METRICS.items()}
        quality.samples = {task: _N for task in KNOWN_METRICS}
        quality.reasoning = {task: ReasoningStats(_N, 1, 10.0) for task in KNOWN_METRICS}
    outcome.scrape = ScrapeResult(_server_summary(), _N, 0, Path("metrics.jsonl"))
    return outcome


def written() -> dict[str, float]:
    """Every metric a run logs, as the writer logs it (values carrying their declared facts): a filled outcome's and a
    repeated outcome's over two filled outcomes whose values differ (medians with intervals, repeats/count)."""
    from harness.outcome import RepeatedOutcome

    one, two = filled_outcome(_N), filled_outcome(_N + 1)
    repeated = RepeatedOutcome(variant=one.variant, folder=one.folder, repeats=[one, two], blocks=[0, 1])
    return {**repeated.metrics(), **one.metrics()}


def _series_written() -> frozenset[str]:
    """Every time-series name (`series/...`): a filled outcome with an ok and a failed request in its window, two
    scrapes carrying every mapped metric and two GPU samples, through the writer's own `VariantOutcome.series()`."""
    from harness.load.records import RequestRecord
    from harness.outcome import VariantOutcome
    from harness.server.gpu_summary import GpuReading, GpuSample, summarize as gpu_summary
    from harness.server.metric_names import COUNTERS, GAUGES, HISTOGRAMS
    from harness.server.metrics import Scrape, ScrapeResult

    outcome = _fill(VariantOutcome)
    outcome.load.records = [RequestRecord(1.0, ok=True, ttft_s=0.1, chunk_offsets_s=[0.1, 0.2, 0.3], e2e_s=0.3,
                                          prompt_tokens=2, completion_tokens=3), RequestRecord(1.5, error="x", e2e_s=0.1)]
    outcome.load.window_start, outcome.load.window_end = 1.0, 2.0

    def scrape(t: float, n: float) -> Scrape:
        samples = {names[0]: n for names in (*COUNTERS.values(), *GAUGES.values())}
        for names in HISTOGRAMS.values():
            samples |= {names[0] + "_count": n, names[0] + "_sum": n / 2}
        return Scrape(t, samples, {names[0]: [(1.0, n), (math.inf, n)] for names in HISTOGRAMS.values()})

    outcome.scrape = ScrapeResult({}, 2, 0, Path("metrics.jsonl"), series=(scrape(1.0, 1.0), scrape(2.0, 2.0)))
    gpu = GpuReading(0, "gpu", 100.0, 50.0, 1.0, 1000.0, 1.0)
    outcome.gpu = gpu_summary([GpuSample(1.0, (gpu,)), GpuSample(1.5, (gpu,))], (1.0, 2.0))
    return frozenset(outcome.series())


def _template(name: str) -> str:
    return "/".join("<n>" if p == str(_N) else p for p in name.split("/"))


def _split(names: list[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """(exact names, pattern templates with <n> for the placeholder segment)."""
    exact, patterns = set(), set()
    for name in names:
        t = _template(name)
        (patterns if t != name else exact).add(t)
    return frozenset(exact), tuple(sorted(patterns))


_WRITTEN = written()
METRICS, PATTERNS = _split(list(_WRITTEN))
"""Exact metric names, and the families with a scan point or step index (`<n>`)."""
DECLARED: dict[str, MetricFact | None] = {}
"""Exact name or pattern template -> the fact its record declared with the value (None: declared nowhere; a test
fails on one). Quality scores are lm-eval's: see `fact`."""
for _name, _v in _WRITTEN.items():
    DECLARED[_template(_name)] = fact_of(_v) or DECLARED.get(_template(_name))
SERIES = _series_written()
"""Time-series names (MLflow metric history with steps): `series/<family>/<name>`, never a gate's or a column's metric."""
_PATTERN_RES = [(re.compile("/".join("[^/]+" if p == "<n>" else re.escape(p) for p in t.split("/"))), t) for t in PATTERNS]
_KNOB_RE = re.compile(re.escape(KNOB_PREFIX) + r"[a-z][a-z0-9_]*")


def _known_quality_tasks() -> frozenset[str]:
    from harness.quality.results import KNOWN_METRICS

    return frozenset(KNOWN_METRICS)


KNOWN_QUALITY_TASKS = _known_quality_tasks()
"""Tasks whose metric names are checked exactly (and suggested on a typo); any other task's are a pattern."""
_QUALITY_RE = re.compile(r"(quality|quality_idle)/([A-Za-z0-9_.-]+)/[A-Za-z0-9_.-]+")
"""`quality/<task>/<metric>[_<filter>]` of any lm-eval task (harness/quality/results.py names them)."""


def is_metric(name: str) -> bool:
    """Is `name` a metric the harness logs (exact, of a pattern family, a knob, or another lm-eval task's quality metric)?"""
    if name in METRICS or bool(_KNOB_RE.fullmatch(name)) or any(r.fullmatch(name) for r, _ in _PATTERN_RES):
        return True
    m = _QUALITY_RE.fullmatch(name)
    return m is not None and m.group(2) not in KNOWN_QUALITY_TASKS


def is_series(name: str) -> bool:
    """Is `name` a time series the harness logs as metric history (`series/perf/ttft_p95_ms`)?"""
    return name in SERIES


_FIDELITY_FACTS: dict[str, MetricFact] = {
    "top1_agreement": MetricFact("higher", "fraction", "fid top-1"),
    "identical_rate": MetricFact("higher", "fraction", "fid identical"),
    "first_divergence": MetricFact("higher", "tokens"),
    "kl": MetricFact("lower", "nats", "fid KL"),
    "uncovered_mass": MetricFact("lower", "probability"),
    "coverage": MetricFact("higher", "fraction"),
    "prompts": MetricFact("neither", "count"),
    "positions": MetricFact("neither", "count"),
    "teacher_forced": NEITHER,
    "duration_s": MetricFact("neither", "s"),
}
"""TO MOVE: the facts of `fidelity/*` (and `fidelity/noise/*`) belong as field metadata on fidelity/compare.py's
`Comparison` (and FidelityResult.duration_s), where the values are made; declared here until that module is edited."""


def _lm_eval_direction(leaf: str) -> MetricFact | None:
    """A quality score's direction as lm-eval declares it (its metric registry, e.g. acc up, word_perplexity down): the
    longest registered metric name found whole among the leaf's `_`-separated words (`prompt_level_strict_acc` -> acc,
    `exact_match_flexible` -> exact_match); None when lm-eval declares none."""
    words = leaf.split("_")
    best: tuple[int, bool] | None = None
    for metric, higher in _lm_eval_registry().items():
        mw = metric.split("_")
        if any(words[i:i + len(mw)] == mw for i in range(len(words) - len(mw) + 1)) and (best is None or len(mw) > best[0]):
            best = (len(mw), higher)
    return None if best is None else MetricFact("higher" if best[1] else "lower", "score")


_REGISTRY: dict[str, bool] = {}


def _lm_eval_registry() -> dict[str, bool]:
    if not _REGISTRY:
        import lm_eval.api.metrics  # noqa: F401  (registers the metrics)
        from lm_eval.api.registry import HIGHER_IS_BETTER_REGISTRY

        _REGISTRY.update({k: bool(v) for k, v in HIGHER_IS_BETTER_REGISTRY.items()})
    return _REGISTRY


def fact(name: str) -> MetricFact | None:
    """What metric `name` means (direction, unit, label), by lookup: the fact its record declared with the value (an
    interval bound `_ci_low/_ci_high` its metric's), a knob's, a quality score's as lm-eval declares it (a `_load_delta`
    its score's); None for a name the harness does not log or whose direction nobody declared (never guessed)."""
    if not is_metric(name):
        return None
    declared = DECLARED.get(name) or next((DECLARED.get(t) for r, t in _PATTERN_RES if r.fullmatch(name)), None)
    if declared is not None:
        return declared
    if name.endswith(CI_SUFFIXES):
        return fact(name.rsplit("_ci_", 1)[0])
    if name.startswith(KNOB_PREFIX):
        return KNOB
    family, _, rest = name.partition("/")
    if family == "fidelity":
        return _FIDELITY_FACTS.get(rest.removeprefix("noise/"))
    if family in ("quality", "quality_idle") and rest.count("/") == 1:
        leaf = rest.split("/")[1]
        base = _lm_eval_direction(leaf.removesuffix("_load_delta"))
        return base if base is None or not leaf.endswith("_load_delta") else MetricFact(base.direction, "score delta")
    return None


def higher_is_better(name: str) -> bool:
    """Which way is better for metric `name`, by lookup (`fact`); SpecError for a name without a direction (unknown,
    a count or setting, or one nobody declared)."""
    found = fact(name)
    if found is None or found.higher_is_better is None:
        raise SpecError([f"{name}: {no_direction(name)}"])
    return found.higher_is_better


def no_direction(name: str) -> str:
    """Why `name` has no direction, with the fix."""
    if not is_metric(name):
        return unknown(name)
    if fact(name) is None:
        return "no direction is declared for this metric (neither by the harness nor by lm-eval)"
    return "a count, setting or bookkeeping value: neither higher nor lower is better; pick a rate, latency or score"


def label(name: str) -> str:
    """A metric's declared label, else its name."""
    found = fact(name)
    return found.label if found is not None and found.label else name


class SeriesName(str):
    """A time-series name the harness logs; constructing one with any other name raises ValueError."""

    def __new__(cls, name: str) -> "SeriesName":
        if name not in SERIES:
            raise ValueError(f"{name}: not a time series the harness logs ({', '.join(sorted(SERIES)[:4])}, ...)")
        return super().__new__(cls, name)


def closest(name: str, n: int = 3) -> list[str]:
    """The `n` valid names nearest to `name` (difflib's ratio; pattern families filled with `name`'s own segment)."""
    parts = name.split("/")
    # interval bounds are suggested only for a name that asks for one
    candidates = {m for m in METRICS if "_ci_" in name or not m.endswith(("_ci_low", "_ci_high"))}
    for t in PATTERNS:
        tp = t.split("/")
        candidates.add("/".join(parts[i] if p == "<n>" and i < len(parts) else p for i, p in enumerate(tp)))
    scored = []
    for cand in candidates:
        sm = difflib.SequenceMatcher(None, name, cand)
        if sm.real_quick_ratio() >= 0.6 and sm.quick_ratio() >= 0.6 and sm.ratio() >= 0.6:
            scored.append((-sm.ratio(), sorted(cand) != sorted(name), cand))  # ties: a transposition first
    return [cand for _, _, cand in sorted(scored)[:n]]


def unknown(name: str) -> str:
    near = closest(name, 2)
    if near:
        return f"unknown metric; did you mean {', '.join(near)}?"
    return f"unknown metric; harness metrics are named by family ({', '.join(FAMILIES)}), e.g. perf/ttft_p95_ms"


class MetricName(str):
    """A metric name the harness logs; constructing one with any other name raises ValueError."""

    def __new__(cls, name: str) -> "MetricName":
        if not is_metric(name):
            raise ValueError(f"{name}: {unknown(name)}")
        return super().__new__(cls, name)


def quality_metric(task: str, metric: str, prefix: str = "quality/") -> MetricName:
    return MetricName(f"{prefix}{task}/{metric}")


def check_gates(spec: Any, prefix: str = "gates.") -> None:
    """SpecError naming each gate or objective metric (of an ExperimentSpec or GatesSpec) the harness does not log."""
    gates = getattr(spec, "gates", spec)
    problems = [f"{prefix}{section}.{name}: {unknown(name)}"
                for section in ("slo", "quality_floor", "relative") for name in getattr(gates, section) if not is_metric(name)]
    for field in ("objective", "quality_metric", "throughput_metric", "latency_metric"):
        name = getattr(gates.recommend, field)
        found = fact(name)
        if found is None or found.higher_is_better is None:  # the recommendation ranks by it: it needs a direction
            problems.append(f"{prefix}recommend.{field}: '{name}': {no_direction(name)}")
    for i, target in enumerate(getattr(getattr(spec, "repeats", None), "target", None) or []):
        problems += [f"repeats.target.{i}.metric: '{target.metric}': {why}" for why in [target_problem(target.metric)] if why]
    if problems:
        raise SpecError(problems)


def target_problem(name: str) -> str | None:
    """Why `name` cannot be an adaptive-repeats target (a perf metric with a direction, not an interval bound); None if it can."""
    found = fact(name)
    if not name.startswith("perf/") or name.endswith(CI_SUFFIXES) or found is None or found.higher_is_better is None:
        if not is_metric(name):
            return unknown(name)
        return "adaptive repeats decide on a performance metric with a direction (perf/..., not an interval bound), " \
               "e.g. perf/output_tokens_per_s or perf/tpot_p50_ms"
    return None


# ------------------------------------------------------------------ tags, params, artifacts

class Tag:
    """Run tags the harness writes (and `harness.baseline`, which users set on a sweep)."""

    KIND = "harness.kind"
    VARIANT = "harness.variant"
    STATUS = "harness.status"
    ERROR = "harness.error"
    FAILED_STAGE = "harness.failed_stage"
    SMOKE = "harness.smoke"
    RUN_DIR = "harness.run_dir"
    ENGINE = "harness.engine"
    ENGINE_VERSION = "harness.engine_version"
    MODEL = "harness.model"
    QUANTIZATION = "harness.quantization"
    WEIGHTS = "harness.weights"
    """'synthetic' when the variant serves a `synthetic://<shape>` (random weights: speed, not answers); unset otherwise."""
    GPU = "harness.gpu"
    GPU_SHARED = "harness.gpu_shared"
    """'true' when other processes held memory on the server's GPUs as it started (one server per GPU was not the case)."""
    CPU = "harness.cpu"
    INPUTS_ERROR = "harness.inputs_error"
    QUALITY_FLAGS = "harness.quality_flags"
    GATE = "harness.gate"
    RECOMMENDED = "harness.recommended"
    BASELINE = "harness.baseline"
    CREATED_BY = "harness.created_by"
    RESUMED = "harness.resumed"
    REPEAT = "harness.repeat"
    BLOCK = "harness.block"
    CI_METHOD = "harness.ci_method"
    REPEATS = "harness.repeats"
    REPEATS_ORDER = "harness.repeats_order"
    REPEATS_SEED = "harness.repeats_seed"
    REPEATS_STOP = "harness.repeats_stop"
    """Adaptive repeats: why the sweep stopped (decided at a look, max_blocks reached, blocks failed)."""
    REPEATS_DECISIONS = "harness.repeats_decisions"
    """Adaptive repeats: one line per (variant, target metric) with the look decision it stopped at."""
    SUPERSEDED = "harness.superseded"
    FIDELITY_ROLE = "harness.fidelity_role"
    FIDELITY_NOTES = "harness.fidelity_notes"
    PARENT = "mlflow.parentRunId"
    NOTE = "mlflow.note.content"


KIND_SWEEP, KIND_VARIANT, KIND_REPEAT = "sweep", "variant", "repeat"
STATUS_OK, STATUS_FAILED, STATUS_RUNNING = "ok", "failed", "running"


class Param:
    """Params: the resolved spec flattened (`server.*`, `load.*`, `quality.*`, `metrics.*`) plus these."""

    VARIANTS = "variants"
    ARGV = "server.argv"
    ENV_NAMES = "server.env_names"
    ENV_INHERITED = "server.env_inherited."
    SERVER_INFO = "server.info."
    MODEL_LOCATION = "model.location"
    MODEL_SHA256 = "model.sha256"
    VERSION = "version."
    QUALITY_TASK = "quality.task."
    FIDELITY_REFERENCE = "fidelity.reference_file"
    """The reference.jsonl a variant was compared against (the baseline's own, for the baseline)."""
    FIDELITY_METHOD = "fidelity.method"
    FIDELITY_CONFIDENCE = "fidelity.confidence"
    """The level of the logged fidelity intervals (the spec's fidelity.confidence, flattened)."""
    MODEL_FACT = "model."
    """`model.<fact>` of a derived model (llamacpp.quantize): quantize_type, size_bytes, bits_per_weight, source_sha256, ..."""


class SweepParam:
    """Params of an adaptive sweep's run (the design; `repeats.` is a param prefix)."""

    TARGET = "repeats.target"
    MAX_BLOCKS = "repeats.max_blocks"
    LOOKS = "repeats.looks"
    LOOK_BLOCKS = "repeats.look_blocks"
    ALPHA = "repeats.alpha"
    DESIGN = "repeats.design"
    BASELINE = "repeats.baseline"

    @staticmethod
    def targets(margins: dict[str, float]) -> str:
        """The TARGET param's value: `perf/output_tokens_per_s +-0.05, perf/tpot_p50_ms +-0.1`."""
        return ", ".join(f"{metric} +-{margin:g}" for metric, margin in margins.items())

    @staticmethod
    def target_margins(value: str) -> dict[str, float]:
        """The TARGET param read back: metric -> the equivalence margin the design decided with ({} if none)."""
        out = {}
        for part in value.split(","):
            metric, _, margin = part.strip().partition(" +-")
            try:
                out[metric] = float(margin)
            except ValueError:
                continue
        return out


class SweepMetric:
    """Metrics on a repeated sweep's run: what adaptive repeats did and the variance components `harness plan` reuses.
    <metric> is a perf metric name (perf/...), <variant> a variant name."""

    BLOCKS = "repeats/blocks"
    """Complete blocks measured (every variant's target metrics finite)."""
    LOOKS_TAKEN = "repeats/looks_taken"
    BLOCK_S = "repeats/block_s"
    """Mean wall seconds of one block (every variant measured once): the planner's unit of time."""
    LOG_RATIO_SD = "repeats/log_ratio_sd/{metric}"
    """Between-block sd of the per-block log-ratio variant / baseline, pooled over the variants compared."""
    VARIANT_LOG_RATIO_SD = "repeats/log_ratio_sd/{variant}/{metric}"
    SPLIT_HALF_SD = "repeats/split_half_sd/{metric}"
    """Within-window sd (the load stage's `perf/<name>_split_half_sd`, median over every measurement), if it logs one."""
    RATIO = "repeats/ratio/{variant}/{metric}"
    """The ratio variant / baseline at the look its comparison stopped."""


PARAM_PREFIXES = ("server.", "load.", "quality.", "fidelity.", "metrics.", "repeats.", "model.", "version.")


def is_param(name: str) -> bool:
    return name == Param.VARIANTS or name.startswith(PARAM_PREFIXES)


SPEC_ARTIFACT = "spec/experiment.yaml"
VARIANT_SPEC_ARTIFACT = "spec/variant.yaml"
QUALITY_DIR, REPORT_DIR, GATE_DIR = "quality", "report", "gate"
FIDELITY_TABLE = "fidelity/prompts.json"
"""The per-prompt fidelity rows (first divergence, top-1 agreement, KL, both replies) as an MLflow table."""
QUALITY_TABLE = "tables/quality_{task}.json"
"""Per-sample results of one quality task, an MLflow table (prompt, reply, extracted answer, target, scores)."""


# ------------------------------------------------------------------ names consumers read

OUTPUT_TOKENS_PER_S = MetricName("perf/output_tokens_per_s")
CAPACITY_RPS = MetricName("perf/capacity_rps_at_slo")
CAPACITY_USERS = MetricName("perf/capacity_users_at_slo")
REQUESTS_PER_S = MetricName("perf/requests_per_s")
ERROR_RATE = MetricName("perf/error_rate")
TTFT_P50_MS = MetricName("perf/ttft_p50_ms")
TTFT_P95_MS = MetricName("perf/ttft_p95_ms")
TPOT_P50_MS = MetricName("perf/tpot_p50_ms")
ITL_P95_MS = MetricName("perf/itl_p95_ms")
E2E_P95_MS = MetricName("perf/e2e_p95_ms")
WINDOW_S = MetricName("perf/window_s")
WARMUP_S = MetricName("perf/warmup_s")
OUTPUT_TOKENS_PER_S_SPLIT_HALF_SD = MetricName("perf/output_tokens_per_s_split_half_sd")
HOST_STEAL_PCT = MetricName("perf/host_steal_pct")
CLIENT_LAG_P50_MS = MetricName("perf/client_lag_p50_ms")
SERVER_TPOT_SPREAD = MetricName("server/tpot_s_spread")
GSM8K_STRICT = quality_metric("gsm8k", "exact_match_strict")
GSM8K_FLEXIBLE = quality_metric("gsm8k", "exact_match_flexible")
IFEVAL_PROMPT_STRICT = quality_metric("ifeval", "prompt_level_strict_acc")
IFEVAL_PROMPT_LOOSE = quality_metric("ifeval", "prompt_level_loose_acc")
IFEVAL_INST_STRICT = quality_metric("ifeval", "inst_level_strict_acc")
SERVER_TTFT_S_P50 = MetricName("server/ttft_s_p50")
SERVER_REQUESTS_RUNNING_MEAN = MetricName("server/requests_running_mean")
SERVER_REQUESTS_WAITING_MEAN = MetricName("server/requests_waiting_mean")
SERVER_QUEUE_TIME_S_P50 = MetricName("server/queue_time_s_p50")
SERVER_QUEUE_TIME_S_MEAN = MetricName("server/queue_time_s_mean")
KNOB_PARALLEL = MetricName("knob/parallel")
KNOB_MAX_NUM_SEQS = MetricName("knob/max_num_seqs")
KNOB_BITS_PER_WEIGHT = MetricName("knob/bits_per_weight")
SERIES_TTFT_P95_MS = SeriesName("series/perf/ttft_p95_ms")
SERIES_OUTPUT_TOKENS_PER_S = SeriesName("series/perf/output_tokens_per_s")
SERIES_REQUESTS_RUNNING = SeriesName("series/server/requests_running")
SERIES_REQUESTS_WAITING = SeriesName("series/server/requests_waiting")
SERIES_KV_CACHE_USAGE = SeriesName("series/server/kv_cache_usage")
SERIES_GPU_POWER_W = SeriesName("series/gpu/power_w")
FIDELITY_TOP1 = MetricName("fidelity/top1_agreement")
FIDELITY_KL = MetricName("fidelity/kl")
FIDELITY_IDENTICAL = MetricName("fidelity/identical_rate")
NOISE_TOP1 = MetricName("fidelity/noise/top1_agreement")
NOISE_KL = MetricName("fidelity/noise/kl")
