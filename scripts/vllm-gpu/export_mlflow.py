"""Export a sweep's MLflow runs (params, metrics, tags) as JSON and a variant x metric CSV.

usage: python scripts/vllm-gpu/export_mlflow.py TRACKING_URI EXPERIMENT OUT_DIR
Writes OUT_DIR/runs.json (every run of the latest sweep: parent and children, all params,
metrics and tags) and OUT_DIR/metrics.csv (one row per variant, one column per metric).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def main() -> int:
    uri, experiment, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    exp = c.get_experiment_by_name(experiment)
    parent = c.search_runs([exp.experiment_id], "tags.`harness.kind` = 'sweep'", order_by=["attributes.start_time DESC"], max_results=1)[0]
    children = c.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'", order_by=["attributes.start_time ASC"])

    def dump(run) -> dict:
        return {"run_id": run.info.run_id, "name": run.info.run_name, "status": run.info.status,
                "start_time": run.info.start_time, "end_time": run.info.end_time,
                "params": dict(sorted(run.data.params.items())), "metrics": dict(sorted(run.data.metrics.items())),
                "tags": {k: v for k, v in sorted(run.data.tags.items()) if not k.startswith("mlflow.log-model")}}

    out.mkdir(parents=True, exist_ok=True)
    (out / "runs.json").write_text(json.dumps({"experiment": experiment, "sweep": dump(parent), "variants": [dump(r) for r in children]}, indent=1))
    names = sorted({k for r in children for k in r.data.metrics})
    with (out / "metrics.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["variant", "status", *names])
        for r in children:
            w.writerow([r.data.tags.get("harness.variant", r.info.run_name), r.data.tags.get("harness.status", ""),
                        *[r.data.metrics.get(n, "") for n in names]])
    print(f"exported {len(children)} variant runs of sweep {parent.info.run_id} to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
