"""PNG plots of a decision report (matplotlib, Agg backend, imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.report.pareto import Frontier
from harness.tracking.contract import E2E_P95_MS, REQUESTS_PER_S, TTFT_P50_MS, TTFT_P95_MS
from harness.tracking.reader import RunRecord

if TYPE_CHECKING:
    from harness.load.runner import LoadResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> Path:
    """Lay out, write the PNG (creating its folder) and free the figure."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _err(v: float, interval: tuple[float, float] | None) -> list[list[float]] | None:
    """matplotlib's asymmetric error [[below], [above]] from an interval around v (None: no bar)."""
    if interval is None:
        return None
    return [[max(0.0, v - interval[0])], [max(0.0, interval[1] - v)]]


def frontier_plot(f: Frontier, path: Path, recommended: str | None = None) -> Path:
    """Quality against throughput/latency: frontier points joined, dominated points grey, recommendation starred,
    error bars from the logged intervals."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    placed = {p.name: p for p in f.points if p.complete}
    bars = False
    for name, p in placed.items():
        on = name in f.on
        xerr, yerr = _err(p.x, p.x_interval), _err(p.y, p.y_interval)  # type: ignore[arg-type]
        if xerr or yerr:
            bars = True
            ax.errorbar([p.x], [p.y], xerr=xerr, yerr=yerr, fmt="none", ecolor="tab:blue" if on else "gray", capsize=3, zorder=2)
        ax.scatter([p.x], [p.y], s=60, color="tab:blue" if on else "lightgray", edgecolor="black" if on else "gray", zorder=3,
                   marker="*" if name == recommended else "o")
        ax.annotate(name + ("" if on else " (dominated)"), (p.x, p.y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    line = [placed[n] for n in f.on]
    if len(line) > 1:
        ax.plot([p.x for p in line], [p.y for p in line], color="tab:blue", linestyle="--", zorder=2)
    ax.set_xlabel(f.x_metric + (" (higher is better)" if f.x_higher else " (lower is better)"))
    ax.set_ylabel(f.y_metric)
    ax.set_title(f"Pareto frontier: {f.y_metric.split('/')[-1]} vs {f.x_metric.split('/')[-1]}")
    notes = []
    if bars:
        notes.append("bars: logged intervals; dominance from the paired verdicts, not from overlapping bars")
    if f.by_point:
        notes.append("compared by point value (no interval): " + ", ".join(m.split("/")[-1] for m in f.by_point))
    if f.missing:
        notes.append("not placed (missing metric): " + ", ".join(f.missing))
    if notes:
        ax.text(0.01, 0.01, "\n".join(notes), transform=ax.transAxes, fontsize=7, va="bottom")
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def latency_vs_load_plot(runs: list[RunRecord], path: Path) -> Path:
    """TTFT p50/p95 and E2E p95 against the achieved request rate, one point per variant."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for metric, marker in ((TTFT_P50_MS, "o"), (TTFT_P95_MS, "^"), (E2E_P95_MS, "s")):
        pts = [(r.metric(REQUESTS_PER_S), r.metric(metric), r.name) for r in runs]
        pts = sorted((x, y, n) for x, y, n in pts if x is not None and y is not None)
        if not pts:
            continue
        line = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, linestyle=":", label=metric)[0]
        for r in runs:
            x, y, iv = r.metric(REQUESTS_PER_S), r.metric(metric), r.interval(metric)
            if x is not None and y is not None and iv is not None:
                ax.errorbar([x], [y], yerr=_err(y, iv), xerr=_err(x, r.interval(REQUESTS_PER_S)), fmt="none",
                            ecolor=line.get_color(), capsize=3)
        if metric == TTFT_P95_MS:
            for x, y, n in pts:
                ax.annotate(n, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel(f"{REQUESTS_PER_S} (achieved load)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency vs load")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(plt, fig, path)


def load_curve_plot(result: "LoadResult", path: Path) -> Path | None:
    """One variant's latency and throughput against offered load: its rate-scan points or its steps.

    Returns None (and writes nothing) when the run had neither.
    """
    if result.scan:
        points = [(pt.point, pt.result.summary) for pt in result.scan]
        xlabel = "offered load (scan point: req/s or users)"
    elif result.steps:
        points = [(st.offered, st.summary) for st in result.steps]
        xlabel = "offered load (step: " + ("users)" if result.steps[0].users is not None else "req/s)")
    else:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    xs = [x for x, _ in points]
    for label, get, marker in (
        ("TTFT p50", lambda s: s.ttft_ms.p50, "o"),
        ("TTFT p99", lambda s: s.ttft_ms.p99, "^"),
        ("TPOT p50", lambda s: s.tpot_ms.p50, "s"),
    ):
        ax.plot(xs, [get(s) for _, s in points], marker=marker, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("latency (ms)")
    ax.grid(alpha=0.3)
    right = ax.twinx()
    right.plot(xs, [s.output_tokens_per_s for _, s in points], color="grey", linestyle="--", marker="x", label="output tok/s")
    right.set_ylabel("output tokens/s")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
    ax.set_title("Latency and throughput vs load")
    return _save(plt, fig, path)
