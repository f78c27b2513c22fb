"""`harness` command line: one module per command; errors become messages only here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.__version__ import __version__
from harness.errors import HarnessError

COMMANDS = ("run", "plan", "worker", "compare", "gate", "sync", "validate", "schema")


def build_parser() -> argparse.ArgumentParser:
    from harness.cli import compare, gate, plan, run, schema, sync, validate, worker

    parser = argparse.ArgumentParser(prog="harness", description="Quality + performance evaluation of LLM serving configs.")
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (run, plan, worker, compare, gate, sync, validate, schema):
        module.add_parser(sub)
    return parser


def _error(exc: BaseException) -> None:
    from harness.redaction import redact, secret_values

    print(f"harness: error: {redact(str(exc), secret_values())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from harness.server.shutdown import handle_signals, received

    try:
        with handle_signals():  # SIGINT, SIGTERM, SIGHUP: one clean stop, children reaped
            return int(args.func(args))
    except HarnessError as exc:
        _error(exc)
        return exc.exit_code
    except OSError as exc:  # an output path that cannot be written, a file that vanished: a message, not a traceback
        _error(exc)
        return 2
    except KeyboardInterrupt:
        how = received() or "SIGINT"
        print(f"harness: interrupted ({how}); servers stopped, partial results kept, runs marked FAILED", file=sys.stderr)
        return 130
