"""Raw records across machines: Locust workers relay them to the master over Locust's own channel.

With `load.distributed.role: master` the master runs no users; each worker (`harness worker`)
appends every record to its own local file first, then queues the JSON line and sends the queue
to the master every `FLUSH_EVERY_S` as a custom message (`harness_records`). The master appends
what it receives to `<--records>.worker-<client id>` next to its other artifacts, so
`LoadArtifacts.record_files()` merges them like `--processes` files. Client event-loop lag
samples travel the same way (`<--lag-file>.worker-<client id>`).

At the end of a run the master asks every worker to drain (`harness_drain`): the worker stops its
users (in-flight requests finish, within Locust's stop timeout), sends what is left and says
`done`; the master waits for all of them (or the stop timeout) before it quits, so no finished
request is lost. Locally (`load.processes`) nothing is relayed (the processes share the folder),
but the master drains its workers the same way.

The pure parts (`Batcher`, `RecordSink`, `WorkerLoadSpec`) need no Locust; `install()` is called
from the user module's init hook, inside a Locust process only.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError, field_validator

from harness.spec.load import LoadSpec

FIT_OPTION = "harness_words_fit"
"""load.workload.exact_lengths: the master's fitted vocabulary (the JSON of `--harness-words`), put among its options,
which Locust sends every worker with each spawn (custom options travel master -> worker)."""
RECORDS_MESSAGE = "harness_records"
DRAIN_MESSAGE = "harness_drain"
FLUSH_EVERY_S = 0.5
MAX_BATCH_BYTES = 256_000
DRAIN_MARGIN_S = 10.0

log = logging.getLogger(__name__)


def relay_suffix(client_id: str) -> str:
    """File suffix for one worker's relayed lines: `worker-<client id with only [A-Za-z0-9_.-]>`."""
    return "worker-" + (re.sub(r"[^A-Za-z0-9_.-]", "_", client_id)[:120] or "unknown")


@dataclass
class Batcher:
    """A worker's lines not yet sent, cut into messages of at most `max_bytes` of lines each."""

    max_bytes: int = MAX_BATCH_BYTES
    records: list[str] = field(default_factory=list)
    lag: list[str] = field(default_factory=list)

    def add_record(self, line: str) -> None:
        self.records.append(line)

    def add_lag(self, line: str) -> None:
        self.lag.append(line)

    def take(self, done: bool = False) -> list[dict[str, Any]]:
        """Every pending line as message payloads, in order, and empties the queue; `done` marks the last one.

        A single line longer than `max_bytes` goes alone. With `done` there is always one payload,
        empty if need be, so the master learns the worker has nothing more to send.
        """
        out: list[dict[str, Any]] = []
        size = 0
        for key, lines in (("records", self.records), ("lag", self.lag)):
            for line in lines:
                if not out or (size and size + len(line) > self.max_bytes):
                    out.append({"records": [], "lag": [], "done": False})
                    size = 0
                out[-1][key].append(line)
                size += len(line)
        self.records, self.lag = [], []
        if done:
            if not out:
                out.append({"records": [], "lag": [], "done": False})
            out[-1]["done"] = True
        return out


def _lines(value: Any) -> list[str]:
    """The well-formed lines of a payload field: strings holding exactly one line."""
    if not isinstance(value, list):
        return []
    return [s.strip() for s in value if isinstance(s, str) and s.strip() and "\n" not in s.strip()]


class RecordSink:
    """Master side: appends relayed lines to `<records>.worker-<id>` and `<lag>.worker-<id>`."""

    def __init__(self, records_path: str, lag_path: str = ""):
        self.records_path = records_path
        self.lag_path = lag_path
        self.received: dict[str, int] = {}
        """Records received per client id."""
        self.finished: set[str] = set()
        """Client ids that said `done`."""
        self._files: dict[str, IO[str]] = {}

    def _append(self, base: str, client_id: str, lines: list[str]) -> None:
        if not base or not lines:
            return
        path = f"{base}.{relay_suffix(client_id)}"
        fh = self._files.get(path)
        if fh is None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fh = self._files[path] = open(path, "a", buffering=1)  # noqa: SIM115 - kept open for the run
        fh.write("".join(line + "\n" for line in lines))
        fh.flush()

    def accept(self, client_id: str, data: Any) -> bool:
        """Append one message's lines; returns whether the worker said it is done. Malformed parts are skipped."""
        if not isinstance(data, dict):
            log.warning("ignored a %s message from %s that is not a mapping", RECORDS_MESSAGE, client_id)
            return False
        records = _lines(data.get("records"))
        self._append(self.records_path, client_id, records)
        self._append(self.lag_path, client_id, _lines(data.get("lag")))
        self.received[client_id] = self.received.get(client_id, 0) + len(records)
        done = data.get("done") is True
        if done:
            self.finished.add(client_id)
        return done

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()


class WorkerRelay:
    """Worker side (inside Locust): queues lines and sends them to the master; answers the master's drain."""

    def __init__(self, environment: Any, own_records: str, own_lag: str):
        self.environment = environment
        self.own_records = own_records
        """This worker's own `--records` (its command line, not the master's path, which names a folder on another machine)."""
        self.own_lag = own_lag
        self.batcher = Batcher()
        self.enabled = False
        self._sender: Any = None
        import gevent.lock

        self._lock = gevent.lock.Semaphore()

    def enable(self) -> None:
        """Start relaying (called when the first user starts and the master's spec says role master)."""
        if self.enabled:
            return
        import gevent

        self.enabled = True
        self._sender = gevent.spawn(self._send_loop)

    def add_record(self, line: str) -> None:
        if self.enabled:
            self.batcher.add_record(line)

    def add_lag(self, line: str) -> None:
        if self.enabled:
            self.batcher.add_lag(line)

    def _send_loop(self) -> None:
        import gevent

        while True:
            gevent.sleep(FLUSH_EVERY_S)
            self.flush()

    def flush(self, done: bool = False) -> None:
        """Send every queued line (and `done`); a send that fails is logged, the lines stay on local disk."""
        with self._lock:
            for payload in self.batcher.take(done):
                try:
                    self.environment.runner.send_message(RECORDS_MESSAGE, payload)
                except Exception as exc:  # noqa: BLE001 - the master may be gone; the local file still has every record
                    log.error("could not send %d records to the master: %s", len(payload["records"]), exc)
                    return

    def on_drain(self, environment: Any, msg: Any, **_: Any) -> None:
        """The master ends the run: stop the users (in-flight requests finish), send the rest, say done."""
        from locust.runners import STATE_INIT, STATE_STOPPED

        runner = environment.runner
        if runner.state not in (STATE_STOPPED, STATE_INIT):
            runner.stop()
        self.flush(done=True)

    def on_test_stop(self, environment: Any, **_: Any) -> None:
        if self.enabled:
            self.flush()

    def on_quitting(self, environment: Any, **_: Any) -> None:
        if self.enabled:
            self.flush()


def install(environment: Any, runner: Any) -> WorkerRelay | None:
    """Locust init hook: a master of a distributed harness run listens for records; a worker prepares to send them.

    Returns a worker's relay (it goes into the process's state when the test starts), else None.
    """
    kind = type(runner).__name__
    opts = environment.parsed_options
    if kind == "WorkerRunner":
        # Snapshot the worker's own paths now: the master's options replace them when the test starts.
        worker = WorkerRelay(environment, getattr(opts, "records", "") or "", getattr(opts, "lag_file", "") or "")
        runner.register_message(DRAIN_MESSAGE, worker.on_drain, concurrent=True)
        environment.events.test_stop.add_listener(worker.on_test_stop)
        environment.events.quitting.add_listener(worker.on_quitting)
        return worker
    if kind == "MasterRunner":
        # Every master drains its workers at the end, local `--processes` ones included: Locust's own
        # master quits 0.5 s after telling them to, which would cut the requests still in flight.
        # Only a distributed master's workers relay lines; local ones write to the shared folder.
        _install_master(environment, runner, RecordSink(getattr(opts, "records", "") or "", getattr(opts, "lag_file", "") or ""))
    return None


class WorkerLoadSpec(LoadSpec):
    """The master's `load` block as a remote worker reads it.

    A tokenizer path names a file on the master, which counts the tokens after the run; the
    worker only has to keep each reply's text, so any tokenizer reads as `server` here. The same
    holds for `workload.exact_lengths`: the master fitted the words, the worker gets the fit
    (FIT_OPTION) and needs no tokenizer of its own.
    """

    @field_validator("tokenizer", mode="before")
    @classmethod
    def _counted_on_the_master(cls, v: Any) -> Any:
        return v if v in (None, "server") else "server"

    @field_validator("workload", mode="before")
    @classmethod
    def _fitted_on_the_master(cls, v: Any) -> Any:
        if isinstance(v, dict) and v.get("exact_lengths") not in (None, "server"):
            return {**v, "exact_lengths": "server"}
        return v


def master_role(raw_load: str) -> bool:
    """Whether a `--harness-load` JSON is a distributed master's (its workers relay their records)."""
    try:
        return bool(raw_load) and WorkerLoadSpec.model_validate_json(raw_load).distributed.role == "master"
    except ValidationError:
        return False


def words_fit(opts: Any, remote: bool) -> dict[str, Any] | None:
    """This process's fitted vocabulary (load.workload.exact_lengths): a remote worker's came with its master's options
    (FIT_OPTION; the master's file path means nothing on another machine), a local process reads the file; None when
    nothing was fitted."""
    if remote:
        text = getattr(opts, FIT_OPTION, "") if opts else ""
        return json.loads(text) if text else None
    path = getattr(opts, "harness_words", "") if opts else ""
    return json.loads(Path(path).read_text()) if path else None


def worker_spec(raw_load: str) -> LoadSpec:
    """The master's `load` block as a remote worker reads it (`WorkerLoadSpec`)."""
    return WorkerLoadSpec.model_validate_json(raw_load)  # JSON mode, as the master validated it


def _install_master(environment: Any, runner: Any, sink: RecordSink) -> None:
    opts = environment.parsed_options
    distributed = bool(getattr(opts, "harness_load", "")) and master_role(opts.harness_load)
    if distributed and getattr(opts, "harness_words", ""):  # the fit is a file here; remote workers get its content
        setattr(opts, FIT_OPTION, Path(opts.harness_words).read_text())  # with the options (local ones read the file)
    expect = int(getattr(opts, "expect_workers", 0) or 0) if distributed else 0
    accepted: set[str] = set()

    def on_connect(client_id: str, **_: Any) -> None:
        """A distributed run takes the workers it expects and refuses any other (a concurrent run's, a stray host's)."""
        if not expect or client_id in accepted or len(accepted) < expect:
            accepted.add(client_id)
            return
        log.warning("refused worker %s: this run expects %d worker process(es) and has them", client_id, expect)

        def refuse() -> None:
            runner.send_message("quit", client_id=client_id)
            node = runner.clients.pop(client_id, None)
            if node is not None and getattr(runner, "_users_dispatcher", None) is not None:
                runner._users_dispatcher.remove_worker(node)

        import gevent

        gevent.spawn_later(0, refuse)  # after Locust has registered it

    def on_records(environment: Any, msg: Any, **_: Any) -> None:
        if expect and msg.node_id not in accepted:
            return  # a refused worker's records are never counted
        sink.accept(msg.node_id, msg.data)

    def on_test_stop(environment: Any, **_: Any) -> None:
        import gevent
        from locust.runners import STATE_MISSING

        ids = [c.id for c in runner.clients.all if c.state != STATE_MISSING]
        sink.finished.difference_update(ids)
        for client_id in ids:
            runner.send_message(DRAIN_MESSAGE, None, client_id=client_id)
        deadline = time.monotonic() + float(environment.stop_timeout or 0) + DRAIN_MARGIN_S
        while not sink.finished.issuperset(ids) and time.monotonic() < deadline:
            gevent.sleep(0.05)
        missing = sorted(set(ids) - sink.finished)
        if missing:
            log.warning("workers %s did not send their last records in time; their local files have them", missing)
        log.info("records relayed per worker: %s", sink.received)

    environment.events.worker_connect.add_listener(on_connect)
    runner.register_message(RECORDS_MESSAGE, on_records)  # in arrival order: each worker's lines stay ordered
    environment.events.test_stop.add_listener(on_test_stop)
    environment.events.quit.add_listener(lambda **_: sink.close())
