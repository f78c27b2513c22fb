"""The headline columns of compare and the report, and which way is better for any metric."""

from __future__ import annotations

from harness.tracking import contract as mc
from harness.tracking.run_record import CI_HIGH, CI_LOW

# (metric, column label, higher is better)
COLUMNS: list[tuple[str, str, bool]] = [
    (mc.GSM8K_STRICT, "gsm8k strict", True),
    (mc.GSM8K_FLEXIBLE, "gsm8k flex", True),
    (mc.IFEVAL_PROMPT_STRICT, "ifeval prompt strict", True),
    (mc.IFEVAL_INST_STRICT, "ifeval inst strict", True),
    (mc.FIDELITY_TOP1, "fid top-1", True),
    (mc.FIDELITY_KL, "fid KL", False),
    (mc.FIDELITY_IDENTICAL, "fid identical", True),
    (mc.OUTPUT_TOKENS_PER_S, "out tok/s", True),
    (mc.REQUESTS_PER_S, "req/s", True),
    (mc.TTFT_P50_MS, "TTFT p50 ms", False),
    (mc.TTFT_P95_MS, "TTFT p95 ms", False),
    (mc.SERVER_TTFT_S_P50, "server TTFT p50 s", False),
    (mc.TPOT_P50_MS, "TPOT p50 ms", False),
    (mc.ITL_P95_MS, "ITL p95 ms", False),
    (mc.E2E_P95_MS, "E2E p95 ms", False),
    (mc.ERROR_RATE, "error rate", False),
    (mc.SERVER_REQUESTS_WAITING_MEAN, "waiting mean", False),
    (mc.SERVER_QUEUE_TIME_S_P50, "queue p50 s", False),
    (mc.SERVER_QUEUE_TIME_S_MEAN, "queue mean s", False),
]

DIRECTION = {m: higher for m, _, higher in COLUMNS}
LABEL = {m: label for m, label, _ in COLUMNS}
PERF, CAPACITY, FIDELITY = "perf/", "capacity_", "fidelity/"


def higher_is_better(metric: str) -> bool:
    """From COLUMNS when listed; else rates and scores up, latencies (`_ms`, `_s`), errors and queues down."""
    if metric in DIRECTION:
        return DIRECTION[metric]
    leaf = metric.rsplit("/", 1)[-1]
    if metric.startswith(FIDELITY) and leaf.startswith(("kl", "uncovered_mass")):
        return False  # a divergence from the baseline
    if "per_s" in leaf or leaf.startswith(("capacity_rps", "capacity_concurrency", "goodput")):
        return True
    return not (leaf.endswith(("_ms", "_s")) or "_ms_" in leaf or "_s_" in leaf or any(w in leaf for w in ("error", "waiting", "queue")))


def headline_perf(metric_names: set[str]) -> list[str]:
    """The headline performance metrics compared between variants: the perf/ columns (not the error rate, a
    sanity rule, whose ratio means nothing at 0) and any perf/capacity_* the runs logged (not their intervals)."""
    listed = [m for m, _, _ in COLUMNS if m.startswith(PERF) and m != mc.ERROR_RATE]
    capacity = sorted(m for m in metric_names if m.startswith(PERF + CAPACITY) and not m.endswith((CI_LOW, CI_HIGH)))
    return capacity + listed


def star_legend(level: float, margin: float, ci_methods: set[str] | None = None, stars: bool = True, intervals: bool = True) -> str:
    """The legend under a table: what its stars mean (only when one appears) and what its intervals are (only when
    one appears); `ci_methods`: the runs' harness.ci_method tags. Empty when the table shows neither."""
    parts = []
    if stars:
        within = f" or within the margin {margin:g}" if margin else ""
        parts.append(f"* = best in column, and every value indistinguishable from it at {level:.0%}{within} (from repeats or "
                     "quality stderrs/samples; without an interval only equal values tie; a value printed like a starred one is starred too)")
    if intervals:
        text = "[low, high] = the logged interval"
        if ci_methods and "requests-bootstrap" in ci_methods:
            text += ("; with 1 repeat the interval is a bootstrap over that run's requests: it leaves out the run-to-run "
                     "noise and decides nothing")
        parts.append(text)
    return "; ".join(parts)


def _with_interval(v: float, interval: tuple[float, float] | None, decimals: int) -> str:
    text = f"{v:.{decimals}f}"
    return text if interval is None else f"{text} [{interval[0]:.{decimals}f}, {interval[1]:.{decimals}f}]"


def noise_floor_line(runs) -> str | None:
    """The fidelity noise floor the runs logged (the baseline against its second pass), in one line; None without one."""
    for r in runs:
        top1, kl = r.metric("fidelity/noise/top1_agreement"), r.metric("fidelity/noise/kl")
        if top1 is not None:
            shown = _with_interval(top1, r.interval("fidelity/noise/top1_agreement"), 3)
            kl_shown = "" if kl is None else f", KL {_with_interval(kl, r.interval('fidelity/noise/kl'), 4)}"
            return (f"fidelity noise floor (the baseline served twice): top-1 {shown}{kl_shown}; a variant inside it is "
                    "indistinguishable from re-serving the baseline")
    return None
