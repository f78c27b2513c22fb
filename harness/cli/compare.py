"""`harness compare [EXPERIMENT]`: variants side by side."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare the variants of a sweep from MLflow")
    p.add_argument("experiment", nargs="?", default="local-smoke", help="MLflow experiment name (default: local-smoke)")
    p.add_argument("--run", dest="run_id", help="sweep (parent) run id; default: the latest sweep")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or mlruns/)")
    p.add_argument("--csv", help="also write the table to this CSV file")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from harness.report.compare import compare

    result = compare(args.experiment, args.tracking_uri, args.run_id)
    print(result.render())
    if args.csv:
        result.table.to_csv(args.csv)
    return 0
