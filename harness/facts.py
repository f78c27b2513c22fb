"""Facts about metrics, declared once next to the value that produces them: which way is better, the unit, a label.

A result record declares each metric field's fact as dataclass field metadata (`field(metadata=LOWER_MS.meta())`),
or tags a computed value where it writes it (`COUNT.of(len(x))`); `flat_metrics` carries the fact with the value
(a `Measured` float). The MLflow contract (harness/tracking/contract.py) reads names and facts from the same
writer code, and answers `higher_is_better` by lookup. Also the metric families and the defaults shared by layers
that may not import each other (the spec layer does not import numpy).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

Direction = Literal["higher", "lower", "neither"]
"""Which way is better; "neither": a count, a setting or bookkeeping (never an objective)."""

FAMILIES = ("perf/", "quality/", "quality_idle/", "fidelity/", "server/", "timing/", "repeats/", "gpu/", "knob/")
"""Metric name prefixes: every metric the harness logs starts with one."""

CAPACITY_SEARCHES = 3
"""Default number of independent capacity searches (`load.capacity.searches`; harness.stats.capacity)."""

_KEY = "harness.metric"


@dataclass(frozen=True)
class MetricFact:
    """What a metric means: which way is better, its unit, a short label ('' = the name)."""

    direction: Direction
    unit: str = ""
    label: str = ""

    @property
    def higher_is_better(self) -> bool | None:
        return None if self.direction == "neither" else self.direction == "higher"

    def meta(self, label: str = "") -> dict[str, MetricFact]:
        """Dataclass field metadata declaring this fact (with its own label)."""
        return {_KEY: MetricFact(self.direction, self.unit, label or self.label)}

    def stat(self, name: str) -> "MetricFact":
        """The fact of one statistic of this metric (`p95`, `mean`): the same direction and unit, the label naming it
        (`TTFT` -> `TTFT p95 ms`; a time unit is named, others are not)."""
        if not self.label:
            return self
        return MetricFact(self.direction, self.unit, f"{self.label} {name}" + (f" {self.unit}" if self.unit in ("ms", "s") else ""))

    def of(self, value: float) -> "Measured":
        """`value` carrying this fact."""
        return Measured(value, self)


class Measured(float):
    """A metric value that carries its fact (a plain float everywhere else)."""

    fact: MetricFact | None

    def __new__(cls, value: float, fact: MetricFact | None = None) -> "Measured":
        out = super().__new__(cls, value)
        out.fact = fact
        return out


def field_facts(cls: Any) -> dict[str, MetricFact]:
    """Field name -> fact, for the fields of dataclass `cls` that declare one."""
    return {f.name: f.metadata[_KEY] for f in fields(cls) if _KEY in f.metadata}


def fact_of(value: object) -> MetricFact | None:
    return getattr(value, "fact", None)


HIGHER = MetricFact("higher")
LOWER = MetricFact("lower")
NEITHER = MetricFact("neither")
COUNT = MetricFact("neither", "count")
LOWER_COUNT = MetricFact("lower", "count")
"""A count of something that went wrong (errors, reconnects, preemptions)."""
LOWER_MS = MetricFact("lower", "ms")
LOWER_S = MetricFact("lower", "s")
SECONDS = MetricFact("neither", "s")
"""A duration that is bookkeeping (a window, a stage's time), not an objective."""
RATE_UP = MetricFact("higher", "1/s")
TOKENS_UP = MetricFact("higher", "tokens/s")
FRACTION_UP = MetricFact("higher", "fraction")
FRACTION_DOWN = MetricFact("lower", "fraction")
TOKENS = MetricFact("neither", "tokens")
PERCENT = MetricFact("neither", "%")
PERCENT_DOWN = MetricFact("lower", "%")
"""A share of something that hurts (CPU steal), in %."""
LOG_SD = MetricFact("neither", "log-ratio sd")
"""A noise component: the sd of a log-ratio (a variance the block planner reads, never an objective)."""
KNOB = MetricFact("neither", "", "a server setting")
