"""`harness run SPEC`: the sweep."""

from __future__ import annotations

import argparse
import sys

from harness.cli.common import add_spec_arguments, spec_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run every variant of a spec and log it to MLflow")
    add_spec_arguments(p)
    p.add_argument("--no-compare", action="store_true", help="do not print the comparison table at the end")
    p.set_defaults(func=command)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def command(args: argparse.Namespace) -> int:
    from harness.sweep import run_sweep

    spec = spec_from_args(args)
    result = run_sweep(spec, _progress)
    if not args.no_compare and result.parent_run_id:
        from harness.errors import ReportError
        from harness.report.compare import compare

        try:
            print(compare(result.experiment, spec.tracking.uri, result.parent_run_id).render())
        except ReportError as exc:
            _progress(f"comparison unavailable: {exc}")
    failed = [o.variant.name for o in result.outcomes if o.failed]
    if failed:
        _progress(f"{len(failed)} variant(s) failed: {', '.join(failed)} (details in MLflow tag harness.error)")
        return 2
    return 0
