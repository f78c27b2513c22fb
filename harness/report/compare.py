"""Side-by-side comparison of a sweep's variants, read back from MLflow."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.errors import ReportError
from harness.tracking.store import client, tracking_uri

if TYPE_CHECKING:
    import pandas as pd

# (metric, column label, higher is better)
COLUMNS: list[tuple[str, str, bool]] = [
    ("quality/gsm8k/exact_match_strict", "gsm8k strict", True),
    ("quality/gsm8k/exact_match_flexible", "gsm8k flex", True),
    ("quality/ifeval/prompt_level_strict_acc", "ifeval prompt strict", True),
    ("quality/ifeval/inst_level_strict_acc", "ifeval inst strict", True),
    ("perf/output_tokens_per_s", "out tok/s", True),
    ("perf/requests_per_s", "req/s", True),
    ("perf/ttft_p50_ms", "TTFT p50 ms", False),
    ("perf/ttft_p95_ms", "TTFT p95 ms", False),
    ("server/ttft_s_p50", "server TTFT p50 s", False),
    ("perf/tpot_p50_ms", "TPOT p50 ms", False),
    ("perf/itl_p95_ms", "ITL p95 ms", False),
    ("perf/e2e_p95_ms", "E2E p95 ms", False),
    ("perf/error_rate", "error rate", False),
    ("server/requests_waiting_mean", "waiting mean", False),
    ("server/queue_time_s_p50", "queue p50 s", False),
    ("server/queue_time_s_mean", "queue mean s", False),
]


@dataclass
class Comparison:
    experiment: str
    parent_run_id: str
    table: "pd.DataFrame"
    """Rows: variants; columns: labels above (only those present), plus status."""
    best: dict[str, str]
    """column label -> best variant."""
    smoke: bool

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
        return f"experiment '{self.experiment}', sweep run {self.parent_run_id}\n{text}{note}"


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "-"
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def compare(experiment: str, uri: str | None = None, sweep_run_id: str | None = None) -> Comparison:
    """Compare the child runs of one sweep (the latest in the experiment unless given)."""
    import pandas as pd

    u = tracking_uri(uri)
    c = client(u)
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        names = [e.name for e in c.search_experiments()]
        raise ReportError(f"no MLflow experiment '{experiment}' at {u}; experiments there: {names}")
    if sweep_run_id is None:
        sweeps = c.search_runs([exp.experiment_id], "tags.`harness.kind` = 'sweep'", order_by=["attributes.start_time DESC"], max_results=1)
        if not sweeps:
            raise ReportError(f"experiment '{experiment}' has no harness sweep runs yet; run `harness run SPEC.yaml` first")
        parent = sweeps[0]
    else:
        parent = c.get_run(sweep_run_id)
    children = c.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'", order_by=["attributes.start_time ASC"])
    if not children:
        raise ReportError(f"sweep run {parent.info.run_id} has no variant runs")
    rows = {}
    for run in children:
        name = run.data.tags.get("harness.variant", run.info.run_name)
        row: dict[str, object] = {"status": run.data.tags.get("harness.status", run.info.status.lower())}
        for metric, label, _ in COLUMNS:
            row[label] = float(run.data.metrics.get(metric, math.nan))
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    present = ["status"] + [label for _, label, _ in COLUMNS if table[label].notna().any()]
    table = table[present]
    best: dict[str, str] = {}
    for _, label, higher in COLUMNS:
        if label in table and table[label].notna().sum() > 1:
            col = table[label].astype(float)
            best[label] = str(col.idxmax() if higher else col.idxmin())
    smoke = parent.data.tags.get("harness.smoke") == "true"
    return Comparison(experiment, parent.info.run_id, table, best, smoke)
