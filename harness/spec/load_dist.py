"""A token-length distribution (its own module: `load` and `load.workload` both use it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from harness.spec.base import Strict


class LengthDist(Strict):
    """A token-length distribution, sampled per request with the load seed."""

    kind: Literal["fixed", "uniform", "normal"] = Field("fixed", description="fixed: always `mean`; uniform: [min, max]; normal: N(mean, stdev) clipped to [min, max].")
    mean: int = Field(..., ge=1, description="Mean (or fixed) length in tokens.")
    stdev: float = Field(0.0, ge=0, description="Standard deviation for kind=normal.")
    min: int = Field(1, ge=1, description="Lower bound in tokens.")
    max: int | None = Field(None, ge=1, description="Upper bound in tokens; None = 2 x mean.")

    @model_validator(mode="after")
    def _bounds(self) -> "LengthDist":
        hi = self.max if self.max is not None else 2 * self.mean
        if self.min > hi:
            raise ValueError(f"min ({self.min}) is larger than max ({hi})")
        if self.kind == "fixed" and not (self.min <= self.mean <= hi):
            raise ValueError("mean must lie within [min, max]")
        return self
