"""`harness worker --master HOST[:PORT]`: this machine sends load for a `harness run` master elsewhere.

The master's spec has `load.distributed.role: master` (binding `master_host`, e.g. 0.0.0.0) and
`expect_workers` = the total worker processes of all worker machines. Everything else (server
address, model, workload, API key env var *name*) comes from the master when each test starts.
One Locust worker run serves one master test; a spec with several variants or sweep points
starts one master per load run, so by default this command serves them one after another until
Ctrl-C (`--runs N` stops after N).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

RETRY_PAUSE_S = 3.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run Locust worker processes for a `harness run` master on another machine")
    p.add_argument("--master", required=True, metavar="HOST[:PORT]", help="the master's address (port default 5557)")
    p.add_argument("--processes", type=int, default=1, help="Locust worker processes here; count each in the master's expect_workers")
    p.add_argument("--out", help="folder for this machine's raw records and logs, one run-<k> per load run (default: runs/worker-<time>)")
    p.add_argument("--runs", type=int, default=0, help="stop after this many load runs (default 0: serve masters until Ctrl-C)")
    p.add_argument(
        "--locustfile", help="only when the master's spec sets load.locustfile: the same file on this machine (default: the bundled chat.py)"
    )
    p.set_defaults(func=command)


def _say(message: str) -> None:
    print(f"harness worker: {message}", file=sys.stderr, flush=True)


def command(args: argparse.Namespace) -> int:
    from harness.errors import LoadError
    from harness.load.worker import parse_master, run_worker

    host, port = parse_master(args.master)
    if args.processes < 1:
        raise LoadError("--processes must be at least 1")
    if args.runs < 0:
        raise LoadError("--runs must be 0 (no limit) or more")
    out = Path(args.out) if args.out else Path("runs") / f"worker-{time.strftime('%Y%m%d-%H%M%S')}"
    locustfile = Path(args.locustfile) if args.locustfile else None
    if locustfile is not None and not locustfile.is_file():
        raise LoadError(f"--locustfile {locustfile} does not exist")
    done = 0
    _say(f"{args.processes} process(es) for the master at {host}:{port}; raw records in {out}")
    while not args.runs or done < args.runs:
        folder = out / f"run-{done + 1}"
        result = run_worker(host, port, folder, args.processes, locustfile)
        if not result.connected:
            _say(f"no master answered at {host}:{port}; trying again (Ctrl-C to stop)")
            time.sleep(RETRY_PAUSE_S)
            continue
        done += 1
        _say(f"run {done}: {result.records} requests sent (exit code {result.exit_code}); records in {folder}")
        if not args.runs or done < args.runs:
            time.sleep(RETRY_PAUSE_S)  # let this master exit before connecting to the next one
    return 0
