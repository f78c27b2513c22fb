"""Pareto frontier of two metrics: which variants no other variant beats on both at once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Point:
    name: str
    x: float | None
    y: float | None

    @property
    def complete(self) -> bool:
        return all(v is not None and math.isfinite(v) for v in (self.x, self.y))


@dataclass(frozen=True)
class Frontier:
    """The frontier of y (quality) against x (throughput or latency)."""

    x_metric: str
    y_metric: str
    x_higher: bool
    y_higher: bool
    points: list[Point]
    on: list[str]
    """Names on the frontier (not dominated), ordered along x."""
    dominated_by: dict[str, list[str]] = field(default_factory=dict)
    """Dominated name -> the names that dominate it."""
    missing: list[str] = field(default_factory=list)
    """Names lacking one of the metrics: not placed."""

    def status(self, name: str) -> str:
        if name in self.missing:
            return "n/a"
        return "frontier" if name in self.on else "dominated by " + ", ".join(self.dominated_by.get(name, []))


def dominates(a: Point, b: Point, x_higher: bool, y_higher: bool) -> bool:
    """a is at least as good as b on both metrics and strictly better on one (equal points do not dominate)."""
    ax, bx = (a.x, b.x) if x_higher else (-a.x, -b.x)  # type: ignore[operator]
    ay, by = (a.y, b.y) if y_higher else (-a.y, -b.y)  # type: ignore[operator]
    return ax >= bx and ay >= by and (ax > bx or ay > by)


def frontier(points: list[Point], x_metric: str, y_metric: str, x_higher: bool = True, y_higher: bool = True) -> Frontier:
    complete = [p for p in points if p.complete]
    missing = [p.name for p in points if not p.complete]
    dominated_by: dict[str, list[str]] = {}
    for p in complete:
        better = [q.name for q in complete if q is not p and dominates(q, p, x_higher, y_higher)]
        if better:
            dominated_by[p.name] = better
    on = sorted((p for p in complete if p.name not in dominated_by), key=lambda p: (p.x, p.name))
    return Frontier(x_metric, y_metric, x_higher, y_higher, points, [p.name for p in on], dominated_by, missing)
