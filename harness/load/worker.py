"""A worker machine of a distributed load run (`harness worker`): Locust worker processes for a remote master.

The master (`harness run` with `load.distributed.role: master`) sends each worker the host, the
model, the `load` block and the API key's env var *name* when the test starts, so a worker needs
only the master's address. Each worker process writes its raw records to its own folder first,
then relays them to the master (harness/loadgen/relay.py).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import LoadError
from harness.load.records import read_records
from harness.load.runner import default_locustfile
from harness.server.process import ManagedProcess

DEFAULT_MASTER_PORT = 5557
RECORDS_NAME = "records.jsonl"
LAG_NAME = "client_lag"
LOG_NAME = "locust-worker.log"
NO_MASTER = "Failed to connect to the Locust master"
"""Locust's log line when no master answered within its retries (about 5 minutes)."""


def parse_master(text: str) -> tuple[str, int]:
    """`HOST`, `HOST:PORT` or `[IPv6]:PORT` -> (host, port); the port defaults to Locust's 5557."""
    text = text.strip()
    host, port = text, str(DEFAULT_MASTER_PORT)
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise LoadError(f"--master {text!r}: unclosed '[' in an IPv6 address; write [ADDR]:PORT")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise LoadError(f"--master {text!r}: expected [ADDR]:PORT")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host:
        raise LoadError(f"--master {text!r}: no host; write HOST or HOST:PORT")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise LoadError(f"--master {text!r}: port {port!r} is not a number from 1 to 65535")
    return host, int(port)


def worker_argv(host: str, port: int, folder: Path, processes: int = 1, locustfile: Path | None = None) -> list[str]:
    """Locust worker(s) connecting to `host:port`; their own records and lag samples go to `folder`."""
    argv = [
        sys.executable, "-m", "locust",
        "-f", str(locustfile or default_locustfile()),
        "--worker",
        "--master-host", host,
        "--master-port", str(port),
        "--loglevel", "INFO",
        "--records", str(folder / RECORDS_NAME),
        "--lag-file", str(folder / LAG_NAME),
    ]
    if processes > 1:
        argv += ["--processes", str(processes)]
    return argv


@dataclass
class WorkerRunResult:
    """One load run served by this machine."""

    folder: Path
    exit_code: int
    records: int
    """Records this machine's processes wrote (each was also relayed to the master)."""
    connected: bool
    """False when no master answered (Locust gave up connecting)."""


def run_worker(host: str, port: int, folder: Path, processes: int = 1, locustfile: Path | None = None) -> WorkerRunResult:
    """Run Locust worker(s) until the master ends its test (or Locust gives up connecting)."""
    folder.mkdir(parents=True, exist_ok=True)
    proc = ManagedProcess(worker_argv(host, port, folder, processes, locustfile), folder / LOG_NAME, grace_s=30)
    with proc:
        while proc.poll() is None:
            time.sleep(0.2)
    code = proc.poll()
    assert code is not None
    files = sorted(folder.glob(RECORDS_NAME + ".*"))
    records = len(read_records(files)) if files else 0
    connected = not (records == 0 and NO_MASTER in proc.log_tail(50))
    if connected and code not in (0, 1):  # 1 means some requests failed, which the records show
        raise LoadError(f"the Locust worker exited with code {code}; see {folder / LOG_NAME}:\n{proc.log_tail(25)}")
    return WorkerRunResult(folder, code, records, connected)
