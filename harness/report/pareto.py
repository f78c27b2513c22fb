"""Pareto frontier of two metrics: which variants no other variant beats with a decided outcome.

b dominates a when a is WORSE than b on one axis and NOT BETTER on the other, where worse / better are
the outcomes of `compare(axis, a, b)` (harness.report.judge: from an interval at the report's level after its
Holm correction when the data have one, else by point value). So a variant is dominated only by a decided
better/worse; "equivalent" and "inconclusive" neither dominate nor protect. A variant on the frontier only
because a comparison was inconclusive (decided worse, it would be dominated) is listed in `Frontier.uncertain`
and the note says so. Without `compare` (or for pairs without intervals) the verdicts are point comparisons,
and the rule is the classic one: b at least as good on both and strictly better on one. Equal points never
dominate each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.report.judge import Judgement, how


@dataclass(frozen=True)
class Point:
    name: str
    x: float | None
    y: float | None
    x_interval: tuple[float, float] | None = None
    y_interval: tuple[float, float] | None = None
    """Logged intervals, for error bars (the verdicts come from `compare`)."""

    @property
    def complete(self) -> bool:
        return all(v is not None and math.isfinite(v) for v in (self.x, self.y))


Compare = Callable[[str, str, str], Judgement]
"""(axis 'x' or 'y', name a, name b) -> the verdict of a against b on that axis."""


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
    by_point: list[str] = field(default_factory=list)
    """Metrics on which some pair had no interval and was compared by point value."""
    methods: dict[str, str] = field(default_factory=dict)
    """Metric -> how its pairs were compared."""
    uncertain: dict[str, list[str]] = field(default_factory=dict)
    """Name on the frontier -> the names it was compared with inconclusively where a decided "worse" would have
    dominated it: its membership rests on those comparisons."""

    def status(self, name: str) -> str:
        if name in self.missing:
            return "n/a"
        return "frontier" if name in self.on else "dominated by " + ", ".join(self.dominated_by.get(name, []))

    def note(self) -> str:
        """How dominance was decided, in one line."""
        parts = [f"{m}: {how}" for m, how in self.methods.items()]
        fallback = f"; compared by point value where there was no interval: {', '.join(self.by_point)}" if self.by_point else ""
        rests = "; ".join(f"{n} (vs {', '.join(by)})" for n, by in self.uncertain.items())
        rests = f"; on the frontier only because a comparison was inconclusive: {rests}" if rests else ""
        return ("dominated = decided worse on one axis and not better on the other (" + "; ".join(parts) + ")"
                + fallback + rests)


def dominates(a: Point, b: Point, x_higher: bool, y_higher: bool) -> bool:
    """a is at least as good as b on both metrics and strictly better on one (equal points do not dominate)."""
    ax, bx = (a.x, b.x) if x_higher else (-a.x, -b.x)  # type: ignore[operator]
    ay, by = (a.y, b.y) if y_higher else (-a.y, -b.y)  # type: ignore[operator]
    return ax >= bx and ay >= by and (ax > bx or ay > by)


def is_dominated(vx: str, vy: str) -> bool:
    """From a's verdicts against b on x and y: worse on one axis and not better on the other."""
    return (vx == "worse" and vy != "better") or (vy == "worse" and vx != "better")


def rests_on_inconclusive(vx: str, vy: str) -> bool:
    """Not dominated, but would be if an inconclusive verdict were decided "worse"."""
    if is_dominated(vx, vy):
        return False
    x, y = ("worse" if v == "inconclusive" else v for v in (vx, vy))
    return is_dominated(x, vy) or is_dominated(vx, y) or is_dominated(x, y)


def _point_compare(points: dict[str, Point], x_higher: bool, y_higher: bool) -> Compare:
    def compare(axis: str, a: str, b: str) -> Judgement:
        pa, pb, higher = points[a], points[b], x_higher if axis == "x" else y_higher
        va, vb = (pa.x, pb.x) if axis == "x" else (pa.y, pb.y)
        v = "inconclusive" if va == vb else "better" if (va > vb) == higher else "worse"  # type: ignore[operator]
        return Judgement(v, False, "point value")

    return compare


def frontier(points: list[Point], x_metric: str, y_metric: str, x_higher: bool = True, y_higher: bool = True,
             compare: Compare | None = None) -> Frontier:
    complete = [p for p in points if p.complete]
    missing = [p.name for p in points if not p.complete]
    judge = compare or _point_compare({p.name: p for p in complete}, x_higher, y_higher)
    dominated_by: dict[str, list[str]] = {}
    seen: dict[str, list[Judgement]] = {x_metric: [], y_metric: []}
    uncertain: dict[str, list[str]] = {}
    for p in complete:
        better, maybe = [], []
        for q in complete:
            if q is p:
                continue
            jx, jy = judge("x", p.name, q.name), judge("y", p.name, q.name)
            seen[x_metric].append(jx)
            seen[y_metric].append(jy)
            if is_dominated(jx.verdict, jy.verdict):
                better.append(q.name)
            elif rests_on_inconclusive(*(j.verdict if j.confident else "equivalent" if j.verdict == "inconclusive" else j.verdict
                                         for j in (jx, jy))):  # equal point values are not an inconclusive test
                maybe.append(q.name)
        if better:
            dominated_by[p.name] = better
        elif maybe:
            uncertain[p.name] = maybe
    on = sorted((p for p in complete if p.name not in dominated_by), key=lambda p: (p.x, p.name))
    methods = {m: how(js) for m, js in seen.items() if js}
    by_point = [m for m, js in seen.items() if any(not j.confident for j in js)]
    return Frontier(x_metric, y_metric, x_higher, y_higher, points, [p.name for p in on], dominated_by, missing, by_point, methods,
                    uncertain)
