"""The `gates` section: what a variant must meet.

The same limits serve two purposes: the recommendation of `harness compare` (the best variant
that meets every SLO and quality floor) and CI gates (`harness gate`, `harness run --gate`).
Metric names are the MLflow names (`perf/ttft_p95_ms`, `quality/gsm8k/exact_match_flexible`).
Here only their form is checked (spec imports nothing above errors); whether the harness logs
them is checked against the MLflow contract (`harness.tracking.contract.check_gates`) wherever a
spec or gates file is loaded for use.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from harness.facts import FAMILIES
from harness.spec.base import Strict

METRIC_FAMILIES = FAMILIES
"""harness.facts.FAMILIES (declared there once, for the contract too)."""
_METRIC_RE = re.compile(r"^[a-z_]+/[A-Za-z0-9_./-]+$")


def check_metric_name(name: str) -> str:
    """A full MLflow metric name of a known family (its form only), or a ValueError naming the fix."""
    if not _METRIC_RE.match(name) or not name.startswith(METRIC_FAMILIES):
        hint = f"perf/{name}" if "/" not in name else "perf/ttft_p95_ms"
        raise ValueError(
            f"'{name}' is not a harness metric name; use the full MLflow name with its family "
            f"({', '.join(METRIC_FAMILIES)}), e.g. {hint}"
        )
    return name


class Bound(Strict):
    """An absolute limit on one metric: min and/or max (inclusive)."""

    min: float | None = Field(None, description="Lowest passing value (inclusive), e.g. a quality floor of 0.30.")
    max: float | None = Field(None, description="Highest passing value (inclusive), e.g. 500 for perf/ttft_p95_ms.")
    on: Literal["value", "ci_high", "ci_low"] = Field(
        "value",
        description="What is checked against the limit: the value (median over repeats), or a bound of its logged 95% "
        "interval. For a max: ci_high = it must hold with confidence (conservative), ci_low = fail only when it is violated "
        "with confidence (does not flap); for a min the other way round. Without a logged interval the value is checked (and said so).",
    )

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: object) -> object:
        """YAML 1.1 reads an unquoted key `on` as the boolean true: take it back as `on`."""
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _one_side(self) -> "Bound":
        if self.min is None and self.max is None:
            raise ValueError("give `min`, `max` or both (e.g. {max: 500})")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        return self


class RelativeBound(Strict):
    """A limit relative to the baseline's value of the same metric: ratio and/or absolute delta."""

    min_ratio: float | None = Field(
        None, ge=0, description="Candidate must be >= min_ratio x baseline (0.99 = at least 99% of the baseline's accuracy, as MLPerf)."
    )
    max_ratio: float | None = Field(None, ge=0, description="Candidate must be <= max_ratio x baseline (1.10 = at most 10% slower).")
    max_drop: float | None = Field(None, ge=0, description="Candidate must be >= baseline - max_drop (absolute points, e.g. 0.02).")
    max_rise: float | None = Field(None, ge=0, description="Candidate must be <= baseline + max_rise (absolute, in the metric's unit).")
    significant: bool = Field(
        False,
        description="Non-inferiority test: pass only if the bound of the candidate / baseline interval (level 1 - "
        "recommend.alpha; repeats, lm-eval stderrs for quality, logged bootstrap intervals for fidelity) on the regression "
        "side clears the limit: the low end >= min_ratio (or baseline - max_drop), the high end <= max_ratio (or baseline + "
        "max_rise). A low-power run, whose interval is wide, therefore FAILS; without the data for an interval (1 repeat) "
        "it fails too, and the gate says so.",
    )
    margin: float | None = Field(
        None, ge=0, lt=1,
        description="With significant (kept for older specs; prefer putting the tolerance into the limit itself): widens "
        "the non-inferiority limit by this share of the baseline (max_ratio 1.05 with margin 0.05: the bound must be <= 1.10 "
        "x baseline).",
    )

    @model_validator(mode="after")
    def _something(self) -> "RelativeBound":
        if all(v is None for v in (self.min_ratio, self.max_ratio, self.max_drop, self.max_rise)):
            raise ValueError("give at least one of min_ratio, max_ratio, max_drop, max_rise (e.g. {min_ratio: 0.99})")
        if self.margin is not None and not self.significant:
            raise ValueError("`margin` needs `significant: true`")
        return self


class BaselineSpec(Strict):
    """Which run the relative rules compare against."""

    variant: str | None = Field(
        None,
        description="A variant of the same sweep (e.g. bf16); the recommendation's relative quality floor uses it. "
        "With run_id/tag: the variant of the baseline sweep to use for every candidate.",
    )
    run_id: str | None = Field(None, description="An MLflow run id: a sweep (its variant of the same name is used) or one variant run.")
    tag: str | None = Field(
        None, description="`key=value`: the latest finished sweep run carrying this tag (e.g. harness.baseline=true) is the baseline."
    )
    experiment: str | None = Field(None, description="MLflow experiment searched for `tag`; None = the candidate's experiment.")

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        if v is not None and (("=" not in v) or not v.split("=", 1)[0].strip()):
            raise ValueError("use key=value, e.g. harness.baseline=true")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> "BaselineSpec":
        if self.run_id is not None and self.tag is not None:
            raise ValueError("give run_id or tag, not both")
        if self.variant is None and self.run_id is None and self.tag is None:
            raise ValueError("give variant (same sweep), run_id or tag")
        return self


class RecommendSpec(Strict):
    """How `harness compare` ranks the variants that pass the gates, and the Pareto axes."""

    objective: str = Field("perf/output_tokens_per_s", description="Metric the recommendation maximizes among passing variants "
                           "(unset: perf/capacity_rps_at_slo or _users_ where a capacity search logged it, else this).")
    quality_metric: str = Field("quality/gsm8k/exact_match_flexible", description="Quality axis of the Pareto frontiers (higher is "
                                "better; unset and not logged: the first quality column the runs have, fidelity top-1 last).")
    throughput_metric: str = Field("perf/output_tokens_per_s", description="Throughput axis of the first frontier (higher is better; "
                                   "unset: capacity at the SLO where a search logged it, else this).")
    latency_metric: str = Field("perf/ttft_p95_ms", description="Latency axis of the second frontier (lower is better).")
    bootstrap_samples: int = Field(2000, ge=100, le=100000, description="Paired-bootstrap resamples for quality differences.")
    alpha: float = Field(
        0.05, gt=0, lt=0.5,
        description="Significance level of every verdict: a difference is significant when its (1-alpha) interval excludes "
        "no change, after Holm's correction over the report's comparisons of the same family (performance, quality, "
        "fidelity); equivalence by two one-sided tests at alpha.",
    )
    margin: float = Field(
        0.0, ge=0, lt=1,
        description="Relevance margin of better/worse (relative, 0.02 = 2%): a difference smaller than this is never called "
        "better or worse, however precise (it is equivalent when shown within equivalence_margin, else inconclusive); the "
        "recommendation, Pareto frontiers and best-in-column marks treat it as not worse. Point comparisons (1 repeat) "
        "treat values within it as a tie.",
    )
    equivalence_margin: float = Field(
        0.05, gt=0, lt=1,
        description="Equivalence margin m of performance and fidelity comparisons (relative, 0.05 = +-5%): 'equivalent "
        "within +-m' when the (1 - 2 alpha) interval of the ratio lies inside [1/(1+m), 1+m] (two one-sided tests); the "
        "only outcome the recommendation calls 'as good a choice'. An inconclusive comparison prints the blocks that would "
        "detect m.",
    )
    quality_equivalence_margin: float = Field(
        0.02, gt=0, lt=1,
        description="Equivalence margin of quality scores, an absolute score difference (0.02 = 2 points of accuracy): "
        "'equivalent' when the (1 - 2 alpha) interval of the difference lies inside +-0.02. Absolute, because a score is a "
        "share of documents (a relative margin would tighten as the score falls). 0.02: a drop of two points is about the "
        "smallest that decides between serving configurations in practice, and the full GSM8K test set (1,319 documents, "
        "paired, ~10% discordant) resolves it (90% interval half-width ~0.014), where a 100-document smoke run cannot.",
    )
    max_error_rate: float = Field(
        0.05, ge=0, le=1,
        description="Sanity rule, gates or not: a variant whose perf/error_rate exceeds this is degraded and never recommended.",
    )

    @field_validator("objective", "quality_metric", "throughput_metric", "latency_metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        return check_metric_name(v)


class RooflineSpec(Strict):
    """Inputs of the decode roofline (an upper bound on output tokens/s); unknown values skip it."""

    gpu: str | None = Field(None, description="Hardware name from the known table (harness/report/roofline.py), e.g. H100-SXM; None = detected.")
    memory_bandwidth_gbs: float | None = Field(None, gt=0, description="Override: memory bandwidth in GB/s (needed for CPUs and unknown GPUs).")
    peak_tflops: float | None = Field(None, gt=0, description="Override: dense peak TFLOP/s at the weights' compute dtype.")
    params_b: float | None = Field(None, gt=0, description="Model parameters in billions; None = from the model name when it says (e.g. 8B, 135M).")
    bits_per_weight: float | None = Field(None, gt=0, le=32, description="Override: bits per weight; None = from the quantization (bf16 16, fp8 8, AWQ ~4.25, Q4_1 5).")
    kv_bytes_per_token: float | None = Field(
        None, gt=0, description="KV-cache bytes per token (2 x layers x kv_heads x head_dim x dtype bytes); None = KV traffic ignored."
    )
    context_tokens: int = Field(512, ge=0, description="Mean context length per sequence for the KV traffic term.")


class GatesSpec(Strict):
    """SLOs, quality floors and rules relative to a baseline: CI gates and the recommendation's constraints."""

    slo: dict[str, Bound] = Field(
        default_factory=dict, description="Absolute limits by metric name, e.g. {perf/ttft_p95_ms: {max: 500}, perf/error_rate: {max: 0.01}}."
    )
    quality_floor: dict[str, Bound] = Field(
        default_factory=dict, description="Absolute quality floors by metric name, e.g. {quality/gsm8k/exact_match_flexible: {min: 0.3}}."
    )
    relative: dict[str, RelativeBound] = Field(
        default_factory=dict, description="Rules against the baseline, e.g. {quality/gsm8k/exact_match_flexible: {min_ratio: 0.99}}."
    )
    baseline: BaselineSpec | None = Field(None, description="The baseline of the relative rules; required when `relative` is not empty.")
    missing: Literal["fail", "skip"] = Field(
        "fail", description="A gated metric the run did not log: fail (an error in the gate report) or skip."
    )
    recommend: RecommendSpec = Field(default_factory=RecommendSpec, description="Ranking and Pareto axes for `harness compare`.")
    roofline: RooflineSpec = Field(default_factory=RooflineSpec, description="Decode roofline inputs (hardware, model size, bytes per weight).")

    @field_validator("slo", "quality_floor", "relative")
    @classmethod
    def _names(cls, v: dict) -> dict:
        for name in v:
            check_metric_name(name)
        return v

    @model_validator(mode="after")
    def _baseline_needed(self) -> "GatesSpec":
        if self.relative and self.baseline is None:
            raise ValueError("`relative` rules need `baseline` (variant: NAME, run_id: ID or tag: key=value)")
        return self

    @property
    def empty(self) -> bool:
        return not (self.slo or self.quality_floor or self.relative)
