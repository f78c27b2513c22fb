"""Multiple-comparison control: adjusted p-values for a family of comparisons in one report.

The report uses Holm (FAMILY_CORRECTION) for every family of its comparisons (performance, quality, fidelity;
harness.report.judge): it controls the family-wise error rate
(the chance of calling even one of the comparisons significant when none differs) under any dependence
between them, which suits a handful of tasks x variants where one false "regression" misleads the whole
decision. Benjamini-Hochberg controls the false discovery rate instead (the expected share of false calls
among the calls), more powerful with many comparisons; valid for independent or positively dependent tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

FAMILY_CORRECTION = "holm"
"""The multiple-comparison correction a report applies within each family of its comparisons (adjust's default)."""


def _check(pvalues: Sequence[float]) -> list[float]:
    p = [float(v) for v in pvalues]
    bad = [v for v in p if math.isnan(v) or not 0.0 <= v <= 1.0]
    if bad:
        raise ValueError(f"p-values must be in [0, 1], got {bad}")
    return p


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order: p_(i) * (m - i + 1), running max, capped at 1."""
    p = _check(pvalues)
    m = len(p)
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: p[j])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg step-up adjusted p-values (q-values), in the input order: p_(i) * m / i, running
    min from the largest, capped at 1."""
    p = _check(pvalues)
    m = len(p)
    out = [0.0] * m
    running = 1.0
    order = sorted(range(m), key=lambda j: p[j])
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        running = min(running, p[i] * m / (rank + 1))
        out[i] = running
    return out


def adjust(pvalues: Sequence[float], method: str = FAMILY_CORRECTION) -> list[float]:
    """Adjusted p-values by `method`: "holm", "bh" (Benjamini-Hochberg) or "none"."""
    if method == "holm":
        return holm(pvalues)
    if method in ("bh", "benjamini-hochberg", "fdr"):
        return benjamini_hochberg(pvalues)
    if method == "none":
        return _check(pvalues)
    raise ValueError(f"unknown correction {method!r}: use 'holm', 'bh' or 'none'")
