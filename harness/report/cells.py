"""Table cells by column type, for every table the harness prints (compare, the decision report's Markdown and HTML).

- integers as integers: a settings or count column whose values are all whole (`parallel 1`, `ctx_size 8192`);
- one number of decimals per column: a measured column gets 4 significant digits of its largest value
  (at least 1 decimal, at most 3: `9.19` next to `14.20`, `181.5`, `0.350`), a setting as many as its most
  precise value needs (`4.25` next to `5.00`); its intervals use the same decimals;
- ties marked alike: every value tied with the best gets the star, and so does every other value printed
  exactly like a starred one (a finished run's);
- below FEW_REPEATS repeats the repeats themselves next to the median (`123 (118, 123, 131)`) instead of an
  interval: an interval from 2-5 repeats is too weak to print alone (a range's coverage is 75% at n=3);
- the legend only explains what the table shows: stars only when one appears, intervals only when one does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.tracking.contract import STATUS_FAILED

if TYPE_CHECKING:
    import pandas as pd

STAR = " *"
MAX_DECIMALS = 3
FEW_REPEATS = 6
"""Below this many repeats a cell shows the repeats next to the median rather than an interval."""


def _finite(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def _numeric(values: list[Any]) -> bool:
    return any(v is not None for v in values) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                       for v in values if v is not None)


def measured_decimals(values: Iterable[float]) -> int:
    """4 significant digits of the largest magnitude, between 1 and 3 decimals."""
    top = max((abs(v) for v in values), default=0.0)
    digits = math.floor(math.log10(top)) + 1 if top >= 1 else 0
    return min(MAX_DECIMALS, max(1, 4 - digits))


def setting_decimals(values: Iterable[float]) -> int:
    """As many decimals as the most precise value needs (0 for whole numbers), at most 3."""
    need = 0
    for v in values:
        while need < MAX_DECIMALS and round(v, need) != v:
            need += 1
    return need


@dataclass(frozen=True)
class Column:
    """How one column's numbers are written."""

    decimals: int | None
    """None: not a numeric column (cells are written as they are)."""

    def cell(self, v: Any, interval: tuple[float, float] | None = None, repeats: tuple[float, ...] | None = None) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v) and self.decimals is None):
            return ""
        if self.decimals is None or not isinstance(v, (int, float)) or isinstance(v, bool):
            return str(v)
        if not math.isfinite(v):
            return "-"
        text = f"{v:.{self.decimals}f}"
        if repeats:
            return text + " (" + ", ".join(f"{x:.{self.decimals}f}" for x in repeats) + ")"
        if interval is not None:
            text += f" [{interval[0]:.{self.decimals}f}, {interval[1]:.{self.decimals}f}]"
        return text


def column(values: list[Any], measured: bool) -> Column:
    """A measured metric's column (decimals by magnitude) or a setting's / count's (whole numbers as integers)."""
    if not _numeric(values):
        return Column(None)
    finite = _finite(values)
    return Column(measured_decimals(finite) if measured else setting_decimals(finite))


@dataclass(frozen=True)
class Formatted:
    """A table as text cells, and what its legend must explain."""

    header: list[str]
    rows: list[tuple[str, list[str]]]
    starred: bool
    """A star appears somewhere."""
    intervals: bool
    """An interval appears somewhere."""
    repeats: bool = False
    """Repeats appear somewhere (fewer than FEW_REPEATS)."""

    def text(self) -> str:
        """Aligned plain text: the index left, every other column right-aligned."""
        width0 = max([len(n) for n, _ in self.rows] + [0])
        widths = [max([len(h)] + [len(cells[i]) for _, cells in self.rows]) for i, h in enumerate(self.header)]
        lines = [" " * width0 + "".join("  " + h.rjust(w) for h, w in zip(self.header, widths))]
        lines += [name.ljust(width0) + "".join("  " + c.rjust(w) for c, w in zip(cells, widths)) for name, cells in self.rows]
        return "\n".join(lines)


def few_repeats(runs: Iterable[Any], columns: Iterable[tuple[str, str, bool]]) -> dict[tuple[str, str], tuple[float, ...]]:
    """(variant, column label) -> its repeats in block order, for metrics with 2 to FEW_REPEATS - 1 repeats."""
    out = {}
    for r in runs:
        for metric, label, _ in columns:
            values = r.repeat_values(metric)
            if 2 <= len(values) < FEW_REPEATS:
                out[(r.name, label)] = tuple(values[b] for b in sorted(values))
    return out


def format_table(table: "pd.DataFrame", measured: Iterable[str] = (), intervals: Mapping[tuple[str, str], tuple[float, float]] | None = None,
                 tied: Mapping[str, list[str]] | None = None,
                 repeats: Mapping[tuple[str, str], tuple[float, ...]] | None = None) -> Formatted:
    """Cells of `table` (rows: variants) by column type; `measured`: the labels of measured metrics (the rest are
    settings, counts or text); `intervals`: (variant, label) -> interval; `tied`: label -> the variants starred;
    `repeats`: (variant, label) -> the repeats, shown instead of the interval (fewer than FEW_REPEATS)."""
    intervals, tied, measured, repeats = intervals or {}, tied or {}, set(measured), repeats or {}
    names = [str(i) for i in table.index]
    failed = {n for n, s in zip(names, table["status"]) if s == STATUS_FAILED} if "status" in table.columns else set()
    columns: list[list[str]] = []
    starred_any = with_interval = with_repeats = False
    for label in table.columns:
        values = table[label].tolist()
        col = column(values, label in measured)
        cells = []
        for name, v in zip(names, values):
            numeric = col.decimals is not None and isinstance(v, float) and math.isfinite(v)
            few = repeats.get((name, label)) if numeric else None
            interval = intervals.get((name, label)) if numeric and not few else None
            with_interval |= interval is not None
            with_repeats |= bool(few)
            cells.append(col.cell(v, interval, few))
        stars = {n for n in tied.get(label, []) if n in names}
        if stars:
            shown = {_value(cells[names.index(n)]) for n in stars}
            stars |= {n for n, c in zip(names, cells) if n not in failed and _value(c) in shown and c != "-"}
        starred_any |= bool(stars)
        columns.append([c + STAR if n in stars else c for n, c in zip(names, cells)])
    rows = [(n, [col[i] for col in columns]) for i, n in enumerate(names)]
    return Formatted([str(c) for c in table.columns], rows, starred_any, with_interval, with_repeats)


def _value(cell: str) -> str:
    """The value of a cell without its interval or repeats."""
    return cell.split(" [")[0].split(" (")[0]
