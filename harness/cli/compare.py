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
    p.set_defaults(func=command)


def print_report(published) -> None:  # PublishedReport
    r = published.report
    rec = r.recommendation
    print(rec.sentence().replace("**", ""))
    for v in rec.verdicts:
        if not v.eligible:
            print(f"  {v.name}: not eligible: " + "; ".join(v.reasons))
    for f in r.frontiers:
        print(f"Pareto {f.y_metric} vs {f.x_metric}: frontier {', '.join(f.on) or '-'}"
              + "".join(f"; {n} dominated by {', '.join(b)}" for n, b in f.dominated_by.items()))
    for d in r.differences:
        print("  " + d.sentence())
    for flag in r.flags:
        print("FLAG " + flag)
    for x in r.rooflines:
        frac = f"{100 * x.fraction:.1f}% of " if x.fraction is not None else ""
        print(f"roofline {x.variant}: {frac}{x.ceiling_tok_s:.0f} tok/s ceiling (batch {x.batch}, {x.hardware}, {x.bound}-bound)")
    where = f"; logged to sweep run {published.logged_to} under report/" if published.logged_to else ""
    print(f"report: {published.folder / 'report.html'}, {published.folder / 'report.md'}{where}")


def command(args: argparse.Namespace) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from harness.cli.common import gates_from_file
    from harness.report.publish import publish

    gates = gates_from_file(args.gates) if args.gates else None
    if not args.runs:
        from harness.report.compare import compare

        result = compare(args.experiment, args.tracking_uri, args.run_id, gates, args.baseline)
        print(result.render())
        if args.csv:
            result.table.to_csv(args.csv)
        if args.no_report:
            return 0
        run_ids = result.runs  # read once: the report uses the runs compared
        default_out = Path("reports") / f"{args.experiment}-{result.parent_run_id[:8]}"
    else:
        run_ids = args.runs
        default_out = Path("reports") / f"runs-{args.runs[0][:8]}"
    published = publish(Path(args.out) if args.out else default_out, run_ids, args.experiment, args.tracking_uri, gates,
                        args.baseline, log_artifacts=not args.no_log)
    if args.runs:
        from harness.report.render import text_table

        print(text_table(published.report))
        if args.csv:
            published.report.table.to_csv(args.csv)
    print_report(published)
    return 0
