"""Test helper: quality differences with their p-values adjusted as one family, the way the report's judge adjusts
them (harness.report.judge.Judge.prepare), for tests that build differences by hand."""

from __future__ import annotations

import math
from dataclasses import replace

from harness.report.significance import Difference
from harness.stats.multiple import FAMILY_CORRECTION, adjust


def adjust_family(diffs: list[Difference], method: str = FAMILY_CORRECTION) -> list[Difference]:
    """The differences with p-values adjusted together (those with a p-value; n = 0 ones unchanged)."""
    idx = [i for i, d in enumerate(diffs) if not math.isnan(d.p_value)]
    out = list(diffs)
    for i, p in zip(idx, adjust([diffs[i].p_value for i in idx], method)):
        out[i] = replace(diffs[i], p_adjusted=p, correction=method, family=len(idx))
    return out
