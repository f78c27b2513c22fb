"""The fidelity stage across a sweep: the baseline first, its pass the reference of every other variant.

    plan = FidelityPlan.of(spec, folder, kept)       # None when fidelity is off
    ordered = plan.order(variants)                    # the baseline first
    ... run_variant(spec, variant, outcome, presenter, plan) ...   # the variant's stage: plan.stage(...), then
                                                      # plan.observe(outcome): the baseline's reference and noise floor

The baseline's first pass is saved in its folder (`fidelity/reference.jsonl`, logged with its artifacts),
its second pass is the noise floor; every other variant is sent the reference's prompts and compared
against it, and the noise floor is logged next to each (`fidelity/noise/*`). With `fidelity.reference`
a saved pass is the reference (and the `generations.jsonl` beside it the noise floor): no variant of
this sweep is the baseline. A resumed sweep whose baseline was kept reads the reference from its folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import FidelityError, SpecError
from harness.fidelity.compare import Comparison
from harness.fidelity.records import Reference, load_reference
from harness.fidelity.saved import open_saved
from harness.fidelity.settings import FidelitySettings, settings_from_spec
from harness.fidelity.stage import FidelityRun
from harness.outcome import VariantOutcome
from harness.server.endpoint import Endpoint
from harness.spec.fidelity import fidelity_baseline, fidelity_on
from harness.spec.model import ExperimentSpec, ResolvedVariant


def preflight(spec: ExperimentSpec) -> None:
    """Before any server starts: a usable `fidelity.reference`, and the prompt source's files; SpecError naming the field."""
    if not fidelity_on(spec):
        return
    f = spec.fidelity
    try:
        settings = settings_from_spec(f, spec.quality.data_dir)
    except FidelityError as exc:
        raise SpecError([f"fidelity: {exc}"]) from None
    if f.reference is not None:
        try:
            open_saved(f.reference, settings)
        except FidelityError as exc:
            raise SpecError([f"fidelity.reference: {exc}"]) from None
    elif settings.source != "synthetic":
        from harness.fidelity.prompts import build_prompts

        try:
            build_prompts(settings)
        except FidelityError as exc:
            raise SpecError([f"fidelity.source: {exc}"]) from None


@dataclass
class FidelityPlan:
    """Who is the baseline, and what every other variant is compared against (filled once the baseline has run)."""

    settings: FidelitySettings
    baseline: str | None
    """The variant of this sweep whose pass is the reference; None with a saved reference."""
    required: bool
    """`fidelity.enabled: true`: a failed stage fails the variant. Default-on: an endpoint without log-probabilities
    skips the stage with a note."""
    when: str = "before_load"
    reference: Reference | None = None
    floor: Comparison | None = None
    notes: list[str] = field(default_factory=list)
    """Said once for the sweep (a saved reference's settings, a missing noise floor)."""

    @classmethod
    def of(cls, spec: ExperimentSpec, folder: Path, kept: dict[str, str] | None = None) -> "FidelityPlan | None":
        if not fidelity_on(spec):
            return None
        f = spec.fidelity
        settings = settings_from_spec(f, spec.quality.data_dir)
        baseline = None if f.reference is not None else fidelity_baseline(spec)
        plan = cls(settings, baseline, f.enabled is True, f.when)
        saved = f.reference if f.reference is not None else (
            _kept_pass(folder / baseline) if baseline is not None and baseline in (kept or {}) else None)
        if saved is not None:
            try:
                plan._use(open_saved(saved, settings))
            except FidelityError as exc:
                if f.reference is not None:
                    raise SpecError([f"fidelity.reference: {exc}"]) from None
                plan.notes.append(f"the kept baseline {baseline} left no reference ({exc}); fidelity not compared")
        return plan

    def _use(self, saved) -> None:
        self.reference, self.floor = saved.reference, saved.noise_floor
        self.notes.extend(saved.notes)

    def order(self, variants: list[ResolvedVariant]) -> list[ResolvedVariant]:
        """The baseline first (its pass is what the others are compared against), the rest in spec order."""
        return sorted(variants, key=lambda v: v.name != self.baseline)

    def is_baseline(self, variant: ResolvedVariant) -> bool:
        return variant.name == self.baseline

    def stage(self, variant: ResolvedVariant, endpoint: Endpoint, folder: Path) -> tuple[FidelityRun | None, str]:
        """The variant's stage (None when there is nothing to compare against) and what it does, in words."""
        s = self.settings
        if self.is_baseline(variant):
            passes = "two passes (reference, noise floor)" if s.noise_floor else "the reference pass"
            return FidelityRun(s, endpoint, folder), f"baseline: {s.prompts} prompts x {s.max_tokens} tokens, {passes}"
        if self.reference is None:
            return None, f"skipped: the baseline {self.baseline} made no reference"
        n = len(self.reference.generations)
        where = self.reference.path or "the reference"
        return FidelityRun(s, endpoint, folder, reference=self.reference), f"{n} prompts against {where}"

    def observe(self, outcome: VariantOutcome) -> None:
        """After the baseline ran: its reference and noise floor, for the variants after it."""
        result = outcome.fidelity
        if self.is_baseline(outcome.variant) and result is not None and result.reference_path is not None:
            try:
                self.reference, self.floor = load_reference(result.reference_path), result.noise_floor
            except FidelityError as exc:
                self.notes.append(f"the baseline's reference cannot be read back ({exc}); fidelity not compared")


def _kept_pass(variant_folder: Path) -> Path:
    """Where a finished baseline left its pass: `<variant>/fidelity/`, or with repeats its first repeat's."""
    for candidate in [variant_folder, *sorted(variant_folder.glob("repeat-*"))]:
        if (candidate / "fidelity" / "reference.jsonl").is_file():
            return candidate / "fidelity"
    return variant_folder / "fidelity"
