"""What a variant's MLflow run gets from its fidelity stage besides the metrics: tags, params and the per-prompt table.

Metrics (`fidelity/*`, `fidelity/noise/*`) come from `VariantOutcome.metrics()` like every other stage's;
the reference and generation files are in the variant folder's `fidelity/` and are logged with it.
"""

from __future__ import annotations

import math
from typing import Any

from harness.outcome import VariantOutcome
from harness.tracking.contract import FIDELITY_TABLE, Param, Tag

MAX_TEXT = 2000
"""Characters kept of a prompt or reply in the table (a few hundred rows stay small)."""


def fidelity_tags(outcome: VariantOutcome) -> dict[str, str]:
    """harness.fidelity_role (baseline | variant) and harness.fidelity_notes (how it was compared)."""
    f = outcome.fidelity
    if f is None:
        return {}
    tags = {Tag.FIDELITY_ROLE: f.role}
    if f.notes:
        tags[Tag.FIDELITY_NOTES] = "\n".join(f.notes)[:4900]
    return tags


def fidelity_params(outcome: VariantOutcome) -> dict[str, str]:
    """The reference file compared against, and the method (teacher_forcing | first_divergence)."""
    f = outcome.fidelity
    if f is None:
        return {}
    out: dict[str, str] = {}
    reference = f.reference_path if f.role == "baseline" else f.compared_to
    if reference is not None:
        out[Param.FIDELITY_REFERENCE] = str(reference)
    if f.comparison is not None:
        out[Param.FIDELITY_METHOD] = f.comparison.method
    return out


def fidelity_tables(outcome: VariantOutcome) -> dict[str, dict[str, list[Any]]]:
    """{FIDELITY_TABLE: columns}: one row per prompt (the baseline's: its second pass against its first)."""
    f = outcome.fidelity
    if f is None or f.comparison is None or not f.comparison.rows:
        return {}
    columns = f.comparison.table()
    return {FIDELITY_TABLE: {name: [_cell(v) for v in values] for name, values in columns.items()}}


def _cell(v: Any) -> Any:
    """JSON-safe: NaN as None, long text cut."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, str) and len(v) > MAX_TEXT:
        return v[: MAX_TEXT - 1] + "…"
    return v
