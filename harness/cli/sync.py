"""`harness sync RUN_DIR`: log a sweep measured while MLflow was unavailable (idempotent)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sync", help="log to MLflow what a sweep kept locally while MLflow was unavailable")
    p.add_argument("run_dir", help="the sweep's run folder (runs/<name>-<time>-<id>)")
    p.add_argument("--uri", "--tracking-uri", dest="tracking_uri",
                   help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else the sweep spec's tracking.uri, else mlruns/)")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from harness.tracking.session import fail_fast
    from harness.tracking.sync import sync

    fail_fast()
    result = sync(Path(args.run_dir), args.tracking_uri)
    print(f"sweep run {result.parent_run_id}: logged {', '.join(result.logged) or 'nothing new'}"
          + (f"; already logged: {', '.join(result.already)}" if result.already else "")
          + (f"; no results to log: {', '.join(result.missing)}" if result.missing else ""))
    return 0
