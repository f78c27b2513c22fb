"""`harness run SPEC`: the sweep, then comparison, decision report and (with --gate) gates."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.common import add_spec_arguments, spec_from_args
from harness.cli.live import wants_live


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run every variant of a spec and log it to MLflow")
    add_spec_arguments(p)
    p.add_argument("--no-compare", action="store_true", help="do not print the comparison table at the end")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print the full tables and every comparison line (default: the decision and a table of 120 columns)")
    p.add_argument("--gate", action="store_true", help="check the spec's gates afterwards: exit 0 pass, 1 a gate failed, 2 a run failed")
    p.add_argument("--gate-out", help="folder for gate.json, junit.xml, gate.md (default: <run folder>/gate)")
    p.add_argument("--resume", action="store_true",
                   help="continue the latest unfinished sweep of this spec: finished variants are kept, interrupted ones run again")
    p.set_defaults(func=command)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def command(args: argparse.Namespace) -> int:
    from harness.pipeline import run_experiment
    from harness.pipeline.presenter import Presenter

    spec = spec_from_args(args)
    presenter = Presenter(_say)
    if wants_live():
        from harness.cli.live import LivePresenter

        presenter = LivePresenter()
    try:
        result = run_experiment(spec, presenter, compare=not args.no_compare, gate=args.gate,
                                gate_out=Path(args.gate_out) if args.gate_out else None, resume=args.resume)
    finally:
        if hasattr(presenter, "close"):
            presenter.close()
    from harness.cli.compare import print_screen

    print_screen(result.comparison, result.report, args.verbose)
    for problem in result.problems:
        _say(problem.message)
    if result.gate is not None:
        from harness.cli.gate import print_outcome

        print_outcome(result.gate)
    if result.failed_variants:
        _say(f"{len(result.failed_variants)} variant(s) failed: {', '.join(result.failed_variants)} (details in MLflow tag harness.error)")
    return result.exit_code
