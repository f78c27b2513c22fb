"""`harness compare [EXPERIMENT]`: variants side by side, Pareto frontiers, recommendation, reports."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare variants from MLflow: table, Pareto frontiers, recommendation, Markdown/HTML report")
    p.add_argument("experiment", nargs="?", default="local-smoke", help="MLflow experiment name (default: local-smoke)")
    p.add_argument("--run", dest="run_id", help="sweep (parent) run id; default: the latest sweep")
    p.add_argument("--runs", nargs="+", metavar="RUN_ID", help="compare any runs (variant or sweep run ids) instead of one sweep")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or mlruns/)")
    p.add_argument("--csv", help="also write the table to this CSV file")
    p.add_argument("--gates", help="YAML with a gates section (or a whole spec); default: the gates of the spec the sweep ran with")
    p.add_argument("--baseline", help="baseline variant for relative floors and significance (overrides gates.baseline)")
    p.add_argument("--out", help="folder for the report files (default: reports/<experiment>-<sweep id>)")
    p.add_argument("--no-report", action="store_true", help="only print the table (no frontiers, recommendation or files)")
    p.add_argument("--no-log", action="store_true", help="do not log the report as artifacts of the sweep run")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print the full tables and every comparison line (default: the decision and a table of 120 columns)")
    p.set_defaults(func=command)


def print_screen(comparison, published, verbose: bool = False) -> None:  # Comparison | None, PublishedReport | None
    """The decision first in 120 columns (harness/report/screen.py); `verbose`: the full tables and every line."""
    from harness.report import screen

    if verbose:
        if comparison is not None:
            print(comparison.render())
        elif published is not None:
            from harness.report.render import text_table

            print(text_table(published.report))
        if published is not None:
            print(screen.verbose_report(published))
    elif published is not None:
        print(screen.report_screen(published, comparison))
    elif comparison is not None:
        print(screen.comparison_screen(comparison))


def command(args: argparse.Namespace) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from harness.cli.common import gates_from_file
    from harness.report.publish import publish

    gates = gates_from_file(args.gates) if args.gates else None
    if not args.runs:
        from harness.report.compare import compare

        result = compare(args.experiment, args.tracking_uri, args.run_id, gates, args.baseline)
        if args.csv:
            result.table.to_csv(args.csv)
        if args.no_report:
            print_screen(result, None, args.verbose)
            return 0
        run_ids = result.runs  # read once: the report uses the runs compared
        default_out = Path("reports") / f"{args.experiment}-{result.parent_run_id[:8]}"
    else:
        result = None
        run_ids = args.runs
        default_out = Path("reports") / f"runs-{args.runs[0][:8]}"
    published = publish(Path(args.out) if args.out else default_out, run_ids, args.experiment, args.tracking_uri, gates,
                        args.baseline, log_artifacts=not args.no_log)
    if args.runs and args.csv:
        published.report.table.to_csv(args.csv)
    print_screen(result, published, args.verbose)
    return 0
