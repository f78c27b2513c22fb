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
from harness.fidelity.records import Reference, load_reference, meta_path
from harness.fidelity.saved import GENERATIONS_FILE, SavedBaseline, open_saved, reference_file
from harness.fidelity.stage import FidelityRun
from harness.outcome import VariantOutcome
from harness.server.endpoint import Endpoint
from harness.spec.fidelity import FidelitySpec, fidelity_baseline, fidelity_on
from harness.spec.model import ExperimentSpec, ResolvedVariant


def section(spec: ExperimentSpec) -> FidelitySpec:
    """The `fidelity` section the stage runs with: an unset `data_dir` is `quality.data_dir`."""
    f = spec.fidelity
    if f.data_dir is None and spec.quality.data_dir is not None:
        return f.model_copy(update={"data_dir": spec.quality.data_dir})
    return f


def preflight(spec: ExperimentSpec) -> None:
    """Before any server starts: a usable `fidelity.reference`, and the prompt source's files; SpecError naming the field."""
    if not fidelity_on(spec):
        return
    f = section(spec)
    if f.reference is not None:
        try:
            _open_reference(f.reference, f)
        except FidelityError as exc:
            raise SpecError([f"fidelity.reference: {exc}"]) from None
    elif f.source != "synthetic":
        from harness.fidelity.prompts import build_prompts

        try:
            build_prompts(f)
        except FidelityError as exc:
            raise SpecError([f"fidelity.source: {exc}"]) from None


_OPENED: dict[tuple, SavedBaseline] = {}
"""The last saved reference read (one entry): what the preflight read, the plan reuses."""


def _open_reference(path: str | Path, f: FidelitySpec) -> SavedBaseline:
    """`open_saved`, read and bootstrapped once a sweep: again only when its files or the settings it used changed."""
    file = reference_file(path)
    second = file.with_name(GENERATIONS_FILE)
    files = (file, meta_path(file), second, meta_path(second))
    key = (*map(_stamp, files), f.max_tokens, f.top_k, f.bootstrap, f.confidence, f.seed)
    if key not in _OPENED:
        saved = open_saved(file, f)
        _OPENED.clear()
        _OPENED[key] = saved
    return _OPENED[key]


def _stamp(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


@dataclass
class FidelityPlan:
    """Who is the baseline, and what every other variant is compared against (filled once the baseline has run)."""

    spec: FidelitySpec
    """The section the stage runs with (`section(spec)`)."""
    baseline: str | None
    """The variant of this sweep whose pass is the reference; None with a saved reference."""
    reference: Reference | None = None
    floor: Comparison | None = None
    notes: list[str] = field(default_factory=list)
    """Said once for the sweep (a saved reference's settings, a missing noise floor)."""

    @property
    def required(self) -> bool:
        """`fidelity.enabled: true`: a failed stage fails the variant. Default-on: an endpoint without log-probabilities
        skips the stage with a note."""
        return self.spec.enabled is True

    @property
    def when(self) -> str:
        return self.spec.when

    @classmethod
    def of(cls, spec: ExperimentSpec, folder: Path, kept: dict[str, str] | None = None) -> "FidelityPlan | None":
        if not fidelity_on(spec):
            return None
        f = section(spec)
        baseline = None if f.reference is not None else fidelity_baseline(spec)
        plan = cls(f, baseline)
        saved = f.reference if f.reference is not None else (
            _kept_pass(folder / baseline) if baseline is not None and baseline in (kept or {}) else None)
        if saved is not None:
            try:
                plan._use(_open_reference(saved, f))
            except FidelityError as exc:
                if f.reference is not None:
                    raise SpecError([f"fidelity.reference: {exc}"]) from None
                plan.notes.append(f"the kept baseline {baseline} left no reference ({exc}); fidelity not compared")
        return plan

    def _use(self, saved: SavedBaseline) -> None:
        self.reference, self.floor = saved.reference, saved.noise_floor
        self.notes.extend(saved.notes)

    def order(self, variants: list[ResolvedVariant]) -> list[ResolvedVariant]:
        """The baseline first (its pass is what the others are compared against), the rest in spec order."""
        return sorted(variants, key=lambda v: v.name != self.baseline)

    def is_baseline(self, variant: ResolvedVariant) -> bool:
        return variant.name == self.baseline

    def stage(self, variant: ResolvedVariant, endpoint: Endpoint, folder: Path) -> tuple[FidelityRun | None, str]:
        """The variant's stage (None when there is nothing to compare against) and what it does, in words."""
        s = self.spec
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
