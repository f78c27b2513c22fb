"""Side-by-side comparison of a sweep's variants, read back from MLflow."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.tracking import contract as mc
from harness.tracking.reader import RunSet, read_sweep

if TYPE_CHECKING:
    import pandas as pd

# (metric, column label, higher is better)
COLUMNS: list[tuple[str, str, bool]] = [
    (mc.GSM8K_STRICT, "gsm8k strict", True),
    (mc.GSM8K_FLEXIBLE, "gsm8k flex", True),
    (mc.IFEVAL_PROMPT_STRICT, "ifeval prompt strict", True),
    (mc.IFEVAL_INST_STRICT, "ifeval inst strict", True),
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


@dataclass
class Comparison:
    experiment: str
    parent_run_id: str | None
    """The sweep run; None when the runs come from several sweeps."""
    table: "pd.DataFrame"
    """Rows: variants; columns: labels above (only those present), plus status."""
    best: dict[str, str]
    """column label -> best variant."""
    smoke: bool
    runs: RunSet | None = None
    """The runs compared, for publish and gate without reading MLflow again."""

    def render(self) -> str:
        import pandas as pd

        shown = self.table.copy()
        for label, winner in self.best.items():
            shown[label] = [
                (_fmt(v) + (" *" if idx == winner else "")) if isinstance(v, float) else v
                for idx, v in zip(shown.index, shown[label])
            ]
        with pd.option_context("display.max_columns", None, "display.width", 250):
            text = shown.to_string()
        note = "\n* = best in column"
        if self.smoke:
            note += "\nSMOKE RUN: small limits; not comparable with full runs"
        where = f"sweep run {self.parent_run_id}" if self.parent_run_id else "runs of several sweeps"
        return f"experiment '{self.experiment}', {where}\n{text}{note}"


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "-"
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def compare(experiment: str | RunSet, uri: str | None = None, sweep_run_id: str | None = None) -> Comparison:
    """Compare the variants of one sweep (the latest in `experiment` unless given), or of a RunSet already read."""
    import pandas as pd

    runset = experiment if isinstance(experiment, RunSet) else read_sweep(uri, experiment, sweep_run_id)
    rows = {}
    for run in runset.runs:
        row: dict[str, object] = {"status": run.status}
        for metric, label, _ in COLUMNS:
            row[label] = float(run.metrics.get(metric, math.nan))
        rows[run.name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    present = ["status"] + [label for _, label, _ in COLUMNS if table[label].notna().any()]
    table = table[present]
    best: dict[str, str] = {}
    for _, label, higher in COLUMNS:
        if label in table and table[label].notna().sum() > 1:
            col = table[label].astype(float)
            best[label] = str(col.idxmax() if higher else col.idxmin())
    return Comparison(runset.experiment, runset.sweep_id, table, best, runset.smoke, runset)
