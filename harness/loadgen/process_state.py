"""What one Locust process shares between its users, as one frozen object made once per process.

`start()` runs when the process's first test starts (Locust's `test_start`): a remote worker
learns the master's options (host, `--harness-load`, ...) only then; what it knew at init (its
relay to the master) is passed in. Users read it with `current()`. The master process of
`--processes` / a distributed run has no users and builds none. A later test of the same
process (the web UI starts many) keeps the state but follows a changed `--records` (the web UI
gives each test its own run folder).
"""

from __future__ import annotations

import errno
import gc
import itertools
import json
import logging
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent

from harness.errors import LoadError
from harness.loadgen import prompts, transport, workload
from harness.loadgen.count import RequestBudget
from harness.loadgen.pacer import ArrivalSchedule, SharedPacer
from harness.loadgen.reactor import StreamReactor
from harness.loadgen.record import EXIT_RECORDS_UNWRITABLE, UNWRITABLE_SUFFIX, RequestRecord
from harness.loadgen.relay import WorkerRelay, master_role, words_fit, worker_spec
from harness.loadgen.transport import Resolved
from harness.spec.load import LoadSpec

LAG_TICK_S = 0.005


class RecordWriter:
    """Appends one JSON line per record and flushes it, so a crash loses nothing already measured;
    then hands the line to `forward` (a remote worker's relay to the master), if any."""

    def __init__(self, path: str, forward: Callable[[str], None] | None = None):
        self.path = path
        self.forward = forward
        self._lock = threading.Lock()
        self._fh = open(path, "a", buffering=1) if path else None  # noqa: SIM115 - lives for the process

    def follow(self, path: str) -> None:
        """Append to `path` from now on (a later test's records file); the same path changes nothing."""
        if path == self.path:
            return
        with self._lock:
            if self._fh is not None:
                self._fh.close()
            self.path = path
            self._fh = open(path, "a", buffering=1) if path else None  # noqa: SIM115 - lives for the process

    def write(self, rec: RequestRecord) -> None:
        line = rec.to_json()
        with self._lock:
            if self._fh is not None:
                try:
                    self._fh.write(line + "\n")
                    self._fh.flush()
                except OSError as exc:
                    self._unwritable(exc)
            if self.forward is not None:
                self.forward(line)

    def _unwritable(self, exc: OSError) -> None:
        """A record that cannot reach disk stops the load generator: measuring on would lose records silently.

        An empty marker file (`<records>.unwritable.<pid>.<errno name>`, needing no data blocks on a full disk)
        tells the harness, which stops the rest of the load and fails the variant with the cause; then this
        process exits at once.
        """
        reason = f"{type(exc).__name__}: {exc}"
        code = errno.errorcode.get(exc.errno or 0, "EIO")
        try:
            open(f"{self.path}{UNWRITABLE_SUFFIX}.{os.getpid()}.{code}", "w").close()  # noqa: SIM115
        except OSError:
            pass
        try:
            os.write(2, f"harness: cannot write the raw records to {self.path} ({reason}); stopping the load\n".encode())
        except OSError:
            pass
        os._exit(EXIT_RECORDS_UNWRITABLE)


@dataclass(frozen=True)
class ProcessState:
    """One Locust process's shared parts (its users' spec, record writer, pacer, network), made once."""

    spec: LoadSpec
    headers: dict[str, str]
    model: str
    writer: RecordWriter
    pacer: SharedPacer | None
    """Open loop: the arrival schedule this process claims from (None in closed loop)."""
    prepared: Any
    """What the prompt source shares between this process's users (workload.prepare: a dataset's lines, a trace's rows)."""
    relay: WorkerRelay | None
    """A remote worker's relay to its master (None otherwise)."""
    reactor: StreamReactor
    """The one stream reader of this process (used by the reactor transport)."""
    stream_seed: int
    """Seeds this process's users' prompt streams: distinct across the processes and machines of one run."""
    resolved: Resolved = field(default_factory=dict)
    """Host names resolved once per process: gevent resolves names in a thread pool, a GIL hand-off per request."""
    user_numbers: Iterator[int] = field(default_factory=itertools.count)
    """Hands each user of this process its index."""
    budget: RequestBudget | None = None
    """`load.requests`: the request count shared with the other local processes (None: time-based)."""


_current: ProcessState | Exception | None = None
"""This process's state, or why it could not be made (the one per-process slot of the load generator)."""


def current() -> ProcessState:
    """The state made when this process's test started; raises what went wrong making it."""
    if isinstance(_current, ProcessState):
        return _current
    if _current is None:
        raise LoadError("the load generator's process state was not made: no test has started in this process")
    raise LoadError(f"the load generator could not start: {type(_current).__name__}: {_current}")


def start(environment: Any, relay: WorkerRelay | None) -> None:
    """Locust `test_start` hook: make this process's state once (a failure is kept and raised to every user)."""
    global _current
    if type(environment.runner).__name__ == "MasterRunner":
        return
    if isinstance(_current, ProcessState):
        if _current.relay is None:
            _current.writer.follow(_records_path(environment))
        return
    try:
        _current = build(environment, relay)
    except Exception as exc:  # noqa: BLE001 - each user re-raises it (current()), so it lands in the log and the error
        _current = exc


def build(environment: Any, relay: WorkerRelay | None) -> ProcessState:
    """The state from the process's final options (a remote worker's come from its master)."""
    _quiet_gc()
    opts = environment.parsed_options
    raw_load = opts.harness_load if opts else ""
    runner = environment.runner
    # A worker of a harness master (the master's spec says role master): its own paths, relayed to the master.
    remote = relay if relay is not None and master_role(raw_load) else None
    if remote is not None:
        load = worker_spec(raw_load)
        remote.enable()
        path = f"{remote.own_records}.{os.getpid()}" if remote.own_records else ""
        lag_path = f"{remote.own_lag}.{os.getpid()}" if remote.own_lag else ""
    else:
        load = LoadSpec.model_validate_json(raw_load) if raw_load else LoadSpec()
        path = _records_path(environment)
        lag_path = f"{opts.lag_file}.{os.getpid()}" if opts and opts.lag_file else ""
    key_env = opts.api_key_env if opts else ""
    headers = {"Content-Type": "application/json"}
    if key_env and os.environ.get(key_env):
        headers["Authorization"] = f"Bearer {os.environ[key_env]}"
    model = opts.model if opts and opts.model else ""
    if not model:
        with transport.tls_session(load.tls) as session:  # load.tls, as the transports check it
            r = session.get(environment.host.rstrip("/") + "/v1/models", headers=headers, timeout=30, verify=load.tls.verify)
        r.raise_for_status()
        model = r.json()["data"][0]["id"]
    pacer = None
    if load.open_loop:
        if remote is not None:  # worker k of n paces its own share in-process (docs/metrics.md)
            share = (max(getattr(runner, "worker_index", 0), 0), load.distributed.expect_workers)
            pacer = SharedPacer(ArrivalSchedule(load, share), None)
        else:
            pacer = SharedPacer(ArrivalSchedule(load, (0, 1)), (opts.pacer_file or None) if opts else None)
    fitted = words_fit(opts, remote is not None)  # load.workload.exact_lengths, fitted by the harness before the run
    if fitted is not None:
        prompts.use_fit(fitted["words"], fitted["tail_tokens"])
    elif load.workload.exact_lengths is not None:  # Locust started by hand (the web UI): nothing fitted the words
        logging.getLogger(__name__).warning("load.workload.exact_lengths is fitted by `harness run` before Locust starts; without "
                                            "--harness-words the prompts are sized by word counts, not exactly")
    prepared = workload.prepare(load)
    budget = None
    if load.requests is not None:
        budget = RequestBudget(load.requests, (getattr(opts, "requests_file", "") or None) if opts else None)
    state = ProcessState(
        spec=load, headers=headers, model=model, writer=RecordWriter(path, remote.add_record if remote is not None else None),
        pacer=pacer, prepared=prepared, relay=remote, reactor=StreamReactor(),
        stream_seed=zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()), budget=budget,
    )
    if lag_path or remote is not None:
        gevent.spawn(_lag_monitor, lag_path, remote.add_lag if remote is not None else None)
    return state


def _records_path(environment: Any) -> str:
    """`--records`, per process: a local worker process of `--processes` appends `.<pid>`."""
    opts = environment.parsed_options
    path = opts.records if opts else ""
    if path and type(environment.runner).__name__ == "WorkerRunner":
        path = f"{path}.{os.getpid()}"
    return path


def _quiet_gc() -> None:
    """Shorter garbage-collector pauses: each one stalls every stream's timestamps in this process.

    Objects alive at start-up (Locust, gevent, this package) are frozen out of collection, so a
    full collection walks only what the run allocated. (A larger young generation made each
    pause longer here: benchmarks/results/README.md.)
    """
    gc.collect()
    gc.freeze()


def _lag_monitor(path: str, forward: Callable[[str], None] | None = None) -> None:
    """Sample how late a 5 ms timer fires: the client's own scheduling delay, appended once a second (and forwarded)."""
    fh = open(path, "a", buffering=1) if path else None  # noqa: SIM115 - lives for the process
    while True:
        samples = []
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            t = time.perf_counter()
            gevent.sleep(LAG_TICK_S)
            samples.append(round((time.perf_counter() - t - LAG_TICK_S) * 1000, 3))
        line = json.dumps(samples)
        if fh is not None:
            fh.write(line + "\n")
        if forward is not None:
            forward(line)
