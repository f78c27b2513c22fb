"""The `fidelity` section: how closely every variant reproduces the baseline's tokens and next-token distributions.

The stage itself is `harness/fidelity/` (`FidelityRun` takes this section, its `data_dir` filled from
`quality.data_dir` by `harness.pipeline.fidelity.section`); what it measures is in docs/metrics.md,
"Fidelity to the baseline". The cross-section rules (which variant is the baseline) are checked on
the whole spec by `check_fidelity`, called once by the validator of `ExperimentSpec` (however the spec is
built).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from harness.spec.base import Strict

if TYPE_CHECKING:
    from harness.spec.model import ExperimentSpec


class FidelitySpec(Strict):
    """Fidelity to the baseline: a fixed, seeded prompt set sent greedily with top-k log-probabilities to every variant."""

    enabled: bool | None = Field(
        None,
        description="Run the fidelity stage. None (default) = on when the sweep has a baseline to compare against: "
        "`gates.baseline.variant` naming a variant of this sweep, or `fidelity.reference` (off when a variant serves "
        "`synthetic://` weights, on which fidelity is refused); then an endpoint that returns "
        "no log-probabilities skips the stage with a note instead of failing the variant. true = required (an error "
        "when there is no baseline; a failed stage fails the variant); false = off.",
    )
    reference: str | None = Field(
        None,
        description="A saved baseline pass to compare against instead of measuring the baseline again: a "
        "`reference.jsonl` (a baseline variant's `fidelity/reference.jsonl` in its run folder or MLflow artifacts) or a "
        "folder holding one (or `fidelity/reference.jsonl`). Its prompts, max_tokens and top_k are used (like for "
        "like); the `generations.jsonl` beside it, when present, gives the noise floor. None = the baseline variant "
        "of this sweep makes the reference (it then runs first).",
    )
    source: Literal["synthetic", "gsm8k", "ifeval"] = Field(
        "synthetic",
        description="Where the prompts come from: synthetic (seeded templated short questions), or a seeded sample of "
        "the GSM8K / IFEval questions read from the data directory (never downloaded).",
    )
    prompts: int = Field(200, ge=1, le=100_000, description="How many prompts (a few hundred separate Q4_0 from Q8_0 on a 135M model).")
    max_tokens: int = Field(32, ge=1, le=4096, description="Tokens generated per prompt (greedy, temperature 0).")
    top_k: int = Field(5, ge=1, le=20, description="`top_logprobs` asked for (OpenAI's limit is 20); the KL estimate sees only these tokens.")
    seed: int = Field(1234, description="Chooses the prompts, is sent as the request seed, and seeds the bootstrap.")
    concurrency: int = Field(
        1, ge=1, le=256, description="Requests in flight; engines batch concurrent requests, which adds numerical noise."
    )
    noise_floor: bool = Field(
        True,
        description="The baseline sends the prompts a second time and the two passes are compared (logged as "
        "`fidelity/noise/*` next to every variant): what re-serving the baseline itself changes.",
    )
    teacher_forcing: Literal["auto", "off"] = Field(
        "auto",
        description="auto: where the engine scores a given continuation (vLLM prompt_logprobs, llama-server grammar), "
        "score the reference's whole output; off: compare positions up to the first differing token only.",
    )
    when: Literal["before_load", "after_load"] = Field(
        "before_load",
        description="When the stage runs on each variant's server: before the quality and load stages, or after them; "
        "never under load.",
    )
    bootstrap: int = Field(1000, ge=10, le=100_000, description="Resamples of the prompts for the confidence intervals.")
    confidence: float = Field(0.95, ge=0.5, lt=1, description="Level of the logged intervals (`fidelity/<metric>_ci_low/_ci_high`).")
    data_dir: str | None = Field(
        None,
        description="Folder holding gsm8k/test.jsonl or ifeval/input_data.jsonl for source gsm8k/ifeval; "
        "None = quality.data_dir, else `HARNESS_DATA_DIR`.",
    )
    request_timeout_s: float = Field(120.0, gt=0, le=3600, description="Deadline of one fidelity request.")
    timeout_s: float = Field(
        1800.0, gt=0, le=7 * 86400, description="Deadline for the stage on one variant; prompts not answered by then are left out (and said so)."
    )

    @field_validator("reference")
    @classmethod
    def _reference(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("empty path: give a reference.jsonl (or its folder), or leave reference unset")
        return v.strip() if v is not None else None


def fidelity_baseline(spec: "ExperimentSpec") -> str | None:
    """The variant of this sweep whose pass is the reference: `gates.baseline.variant` when it names one of the
    variants (and the baseline is not another sweep's: no run_id or tag); None otherwise."""
    base = spec.gates.baseline
    if base is None or base.variant is None or base.run_id is not None or base.tag is not None:
        return None
    return base.variant if base.variant in {v.name for v in spec.variants} else None


def fidelity_on(spec: "ExperimentSpec") -> bool:
    """Does the sweep run the fidelity stage (the section's `enabled`, its default resolved)?"""
    from harness.spec.synthetic import synthetic_variants

    f = spec.fidelity
    if f.enabled is not None:
        return f.enabled
    if f.reference is None and synthetic_variants(spec):
        return False  # random weights: nothing to be faithful to (an explicit request is refused by check_synthetic)
    return f.reference is not None or fidelity_baseline(spec) is not None


def check_fidelity(spec: "ExperimentSpec") -> list[str]:
    """Problems of the section against the rest of the spec (each names the field and the fix)."""
    f = spec.fidelity
    if f.enabled and f.reference is None and fidelity_baseline(spec) is None:
        names = ", ".join(v.name for v in spec.variants)
        return [f"fidelity.enabled: true needs a baseline to compare against: set gates.baseline.variant to one of the "
                f"variants ({names}), or fidelity.reference to a saved reference.jsonl"]
    return []
