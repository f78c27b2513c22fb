"""`harness run SPEC`: the sweep."""

from __future__ import annotations

import argparse
import sys

from harness.cli.common import add_spec_arguments, spec_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run every variant of a spec and log it to MLflow")
    add_spec_arguments(p)
    p.add_argument("--no-compare", action="store_true", help="do not print the comparison table at the end")
    p.add_argument("--gate", action="store_true", help="check the spec's gates afterwards: exit 0 pass, 1 a gate failed, 2 a run failed")
    p.add_argument("--gate-out", help="folder for gate.json, junit.xml, gate.md (default: <run folder>/gate)")
    p.set_defaults(func=command)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def command(args: argparse.Namespace) -> int:
    from harness.sweep import run_sweep

    spec = spec_from_args(args)
    if args.gate and spec.gates.empty:
        from harness.errors import SpecError

        raise SpecError(["gates: --gate needs gates to check; add slo:, quality_floor: or relative: to the spec's gates section"])
    result = run_sweep(spec, _progress)
    if not args.no_compare and result.parent_run_id:
        from harness.errors import ReportError
        from harness.report.compare import compare

        try:
            print(compare(result.experiment, spec.tracking.uri, result.parent_run_id).render())
        except ReportError as exc:
            _progress(f"comparison unavailable: {exc}")
    if not args.no_compare and result.parent_run_id and any(not o.failed for o in result.outcomes):
        from harness.cli.compare import print_report
        from harness.errors import HarnessError
        from harness.report.publish import publish

        try:  # table, Pareto frontiers, recommendation, plots, Markdown/HTML: local and in the sweep run's artifacts
            print_report(publish(result.folder / "report", [result.parent_run_id], uri=spec.tracking.uri, gates=spec.gates))
        except HarnessError as exc:
            _progress(f"decision report unavailable: {exc}")
    gate_code = 0
    if args.gate and result.parent_run_id:
        from pathlib import Path

        from harness.cli.gate import print_outcome
        from harness.gates.check import check_gates

        outcome = check_gates([result.parent_run_id], Path(args.gate_out or result.folder / "gate"), spec.gates, spec.tracking.uri)
        print_outcome(outcome)
        gate_code = outcome.report.exit_code
    failed = [o.variant.name for o in result.outcomes if o.failed]
    if failed:
        _progress(f"{len(failed)} variant(s) failed: {', '.join(failed)} (details in MLflow tag harness.error)")
        return 2
    return gate_code
