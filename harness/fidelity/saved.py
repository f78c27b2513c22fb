"""A baseline pass saved by an earlier sweep: its reference, and the noise floor its second pass gives.

A baseline's fidelity folder holds `reference.jsonl` (its first pass) and `generations.jsonl` (its
second pass, teacher-forced against the first where the engine could). `open_saved(path)` reads
both, so a later sweep compares variants against that baseline, with its noise floor, without
launching it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import FidelityError
from harness.fidelity.compare import Comparison, compare
from harness.fidelity.records import Reference, load_reference
from harness.spec.fidelity import FidelitySpec

REFERENCE_FILE = "reference.jsonl"
GENERATIONS_FILE = "generations.jsonl"


@dataclass(frozen=True)
class SavedBaseline:
    """A reference read back, with the noise floor recomputed from the second pass beside it (None when absent)."""

    reference: Reference
    noise_floor: Comparison | None
    notes: tuple[str, ...] = ()


def reference_file(path: str | Path) -> Path:
    """`path` itself when a file, else `<path>/reference.jsonl` or `<path>/fidelity/reference.jsonl`; FidelityError otherwise."""
    p = Path(path).expanduser()
    if p.is_file():
        return p
    for candidate in (p / REFERENCE_FILE, p / "fidelity" / REFERENCE_FILE):
        if candidate.is_file():
            return candidate
    where = "does not exist" if not p.exists() else f"holds no {REFERENCE_FILE} (nor fidelity/{REFERENCE_FILE})"
    raise FidelityError(f"fidelity reference {p} {where}: point it at a baseline variant's fidelity/{REFERENCE_FILE} "
                        "(in its run folder, or downloaded from its MLflow artifacts)")


def open_saved(path: str | Path, spec: FidelitySpec) -> SavedBaseline:
    """The reference at `path` (see `reference_file`) and the noise floor of the `generations.jsonl` beside it."""
    reference = load_reference(reference_file(path))
    assert reference.path is not None
    second = reference.path.with_name(GENERATIONS_FILE)
    notes: list[str] = []
    info = reference.info
    if info is not None and (info.max_tokens, info.top_k) != (spec.max_tokens, spec.top_k):
        notes.append(f"the reference was made with max_tokens {info.max_tokens}, top_k {info.top_k}: variants are sent those "
                     f"(like for like), not the spec's {spec.max_tokens}, {spec.top_k}")
    if not second.is_file():
        notes.append(f"no noise floor: {second.name} (the baseline's second pass) is not beside {reference.path.name}")
        return SavedBaseline(reference, None, tuple(notes))
    passes = load_reference(second)
    try:
        floor = compare(reference, passes.generations.values(), bootstrap=spec.bootstrap,
                        confidence=spec.confidence, seed=spec.seed)
    except FidelityError as exc:
        notes.append(f"no noise floor from {second.name}: {exc}")
        floor = None
    return SavedBaseline(reference, floor, tuple(notes))
