"""`harness gate RUN...`: CI gates on logged runs. Exit 0 pass, 1 a gate failed, 2 a run failed (or gates unusable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="check SLOs, quality floors and baseline rules on runs (exit 0 pass, 1 gate failed, 2 run failed)")
    p.add_argument("runs", nargs="*", help="MLflow run ids: sweeps (all their variants) or single variant runs")
    p.add_argument("--experiment", help="gate the latest sweep of this MLflow experiment (when no run ids are given)")
    p.add_argument("--gates", help="YAML with a gates section (or a whole spec); default: the gates of the spec the sweep ran with")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or mlruns/)")
    p.add_argument("--out", default="gate-report", help="folder for gate.json, junit.xml, gate.md (default: gate-report)")
    p.add_argument("--no-log", action="store_true", help="do not log the gate files as artifacts of the sweep run")
    p.set_defaults(func=command)


def print_outcome(outcome) -> None:  # GateOutcome
    report = outcome.report
    for c in report.checks:
        mark = {"pass": "PASS ", "fail": "FAIL ", "error": "ERROR", "skip": "SKIP "}[c.status]
        print(f"{mark} [{c.variant}] {c.gate}" + (f": {c.message}" if c.status != "pass" and c.message else ""))
    where = f"; logged to sweep run {outcome.sweep_id} under gate/" if outcome.logged else ""
    print(f"gates: {report.verdict} (exit {report.exit_code}); {outcome.files.junit}, {outcome.files.json}, {outcome.files.markdown}{where}")
    if outcome.files.step_summary:
        print(f"appended to $GITHUB_STEP_SUMMARY ({outcome.files.step_summary})", file=sys.stderr)


def command(args: argparse.Namespace) -> int:
    from harness.cli.common import gates_from_file
    from harness.gates.check import check_gates

    gates = gates_from_file(args.gates) if args.gates else None
    outcome = check_gates(args.runs, Path(args.out), gates, args.tracking_uri, args.experiment, log_artifacts=not args.no_log)
    print_outcome(outcome)
    return outcome.report.exit_code
