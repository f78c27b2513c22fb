"""Locust user: streaming chat completions with exact per-request timing.

Imported only inside a Locust process (it imports locust, which monkey-patches with gevent);
the harness runs Locust as a subprocess. By hand:

    locust -f locustfiles/chat.py --host http://127.0.0.1:8080

opens the web UI; the model is discovered from /v1/models unless `--model` is given.
Each request fires Locust request events named `chat` (end-to-end), `ttft` and `tpot`
(request_type `LLM`), so they appear in the web UI, CSV and HTML report, and writes one raw
record (JSON line) to `--records` as soon as it finishes.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import gevent
import requests
from locust import User, events, task

from harness.load import relay, transport
from harness.load.pacer import ArrivalSchedule, SharedPacer
from harness.load.records import RequestRecord
from harness.load.timeline import StreamTimeline
from harness.load.transport import Transport
from harness.load.workload import ChatRequest, Workload, load_dataset
from harness.spec.load import LoadSpec

LAG_TICK_S = 0.005
_PROCESS_STREAM = zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())
"""Seeds this process's users' prompt streams: distinct across the processes and machines of one run."""
IDLE_S = 3600.0


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument("--model", type=str, env_var="HARNESS_MODEL", default="", help="Model name (default: first of /v1/models)")
    parser.add_argument("--records", type=str, env_var="HARNESS_RECORDS", default="", help="Append raw per-request records (JSONL) here")
    parser.add_argument(
        "--harness-load",
        type=str,
        env_var="HARNESS_LOAD_JSON",
        default="",
        help="The spec's `load` block as JSON (prompt/output lengths, seed, ...)",
    )
    parser.add_argument("--api-key-env", type=str, env_var="HARNESS_API_KEY_ENV", default="", help="Name of the env var holding the API key")
    parser.add_argument("--pacer-file", type=str, env_var="HARNESS_PACER_FILE", default="", help="Open loop: file through which local processes share one arrival schedule")
    parser.add_argument("--lag-file", type=str, env_var="HARNESS_LAG_FILE", default="", help="Write this process's event-loop lag samples (ms) to <lag-file>.<pid>")


@events.init.add_listener
def _init(environment: Any, runner: Any = None, **_: Any) -> None:
    """Master/worker across machines: records travel to the master over Locust's channel (harness/load/relay.py)."""
    if runner is not None:
        relay.install(environment, runner)


class _RecordWriter:
    """Appends one JSON line per record and flushes it, so a crash loses nothing already measured;
    then hands the line to `forward` (a remote worker's relay to the master), if any."""

    _lock = threading.Lock()

    def __init__(self, path: str, forward: Callable[[str], None] | None = None):
        self.path = path
        self.forward = forward
        self._fh = open(path, "a", buffering=1) if path else None  # noqa: SIM115 - lives for the process

    def write(self, rec: RequestRecord) -> None:
        line = rec.to_json()
        with self._lock:
            if self._fh is not None:
                self._fh.write(line + "\n")
                self._fh.flush()
            if self.forward is not None:
                self.forward(line)


_shared: dict[str, Any] = {}


def _quiet_gc() -> None:
    """Shorter garbage-collector pauses: each one stalls every stream's timestamps in this process.

    Objects alive at start-up (Locust, gevent, this package) are frozen out of collection, so a
    full collection walks only what the run allocated. (A larger young generation made each
    pause longer here: benchmarks/results/README.md.)
    """
    gc.collect()
    gc.freeze()


def _setup(environment: Any) -> dict[str, Any]:
    """Per-process state, built once from the parsed options."""
    if _shared:
        return _shared
    _quiet_gc()
    opts = environment.parsed_options
    raw_load = opts.harness_load if opts else ""
    runner = environment.runner
    # A worker of a harness master (the master's spec says role master): its own paths, relayed to the master.
    remote = relay.worker_relay() if relay.master_role(raw_load) else None
    if remote is not None:
        load = relay.worker_spec(raw_load)
        remote.enable()
        path = f"{remote.own_records}.{os.getpid()}" if remote.own_records else ""
        lag_path = f"{remote.own_lag}.{os.getpid()}" if remote.own_lag else ""
    else:
        load = LoadSpec.model_validate_json(raw_load) if raw_load else LoadSpec()
        path = opts.records if opts else ""
        if path and runner is not None and type(runner).__name__ == "WorkerRunner":
            path = f"{path}.{os.getpid()}"
        lag_path = f"{opts.lag_file}.{os.getpid()}" if opts and opts.lag_file else ""
    key_env = opts.api_key_env if opts else ""
    headers = {"Content-Type": "application/json"}
    if key_env and os.environ.get(key_env):
        headers["Authorization"] = f"Bearer {os.environ[key_env]}"
    model = opts.model if opts and opts.model else ""
    if not model:
        r = requests.get(environment.host.rstrip("/") + "/v1/models", headers=headers, timeout=30)
        r.raise_for_status()
        model = r.json()["data"][0]["id"]
    pacer = None
    if load.open_loop:
        if remote is not None:  # worker k of n paces its own share in-process (docs/metrics.md)
            share = (max(getattr(runner, "worker_index", 0), 0), load.distributed.expect_workers)
            pacer = SharedPacer(ArrivalSchedule(load, share), None)
        else:
            pacer = SharedPacer(ArrivalSchedule(load, (0, 1)), (opts.pacer_file or None) if opts else None)
    dataset = load_dataset(load.dataset) if load.dataset is not None else None
    forward = remote.add_record if remote is not None else None
    _shared.update(load=load, writer=_RecordWriter(path, forward), headers=headers, model=model, next_user=0, pacer=pacer, dataset=dataset)
    if lag_path or remote is not None:
        gevent.spawn(_lag_monitor, lag_path, remote.add_lag if remote is not None else None)
    return _shared


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


class ChatUser(User):
    """One simulated chat client: closed loop (back to back) or open loop (sends at the shared pacer's times)."""

    def wait_time(self) -> float:
        """Closed loop: none. Open loop: until this user's next claimed arrival (interruptible, unlike a task)."""
        if self.pacer is None:
            return 0.0
        self.slot = self.pacer.claim()
        if self.slot is None:
            return IDLE_S  # the schedule is over; Locust's run time ends the test
        return max(0.0, self.slot[1] - time.time())

    def on_start(self) -> None:
        shared = _setup(self.environment)
        self.load: LoadSpec = shared["load"]
        self.writer: _RecordWriter = shared["writer"]
        self.headers: dict[str, str] = shared["headers"]
        self.model: str = shared["model"]
        self.pacer: SharedPacer | None = shared["pacer"]
        self.slot: tuple[int, float] | None = None
        self.index = shared["next_user"]
        shared["next_user"] += 1
        self.workload = Workload(self.load, _PROCESS_STREAM * 100_000 + self.index, shared["dataset"])
        self.url = self.host.rstrip("/") + "/v1/chat/completions"
        self.transport: Transport = transport.make(self.load.http_client, self.url, self.headers, self.load.request_timeout_s, self.load.reuse_connections)
        if self.pacer is not None:  # the first task runs before any wait_time
            self.slot = self.pacer.claim()
            gevent.sleep(max(0.0, self.slot[1] - time.time()) if self.slot else IDLE_S)

    def on_stop(self) -> None:
        self.transport.close()

    @task
    def chat(self) -> None:
        req: ChatRequest = self.workload.next()
        body: dict[str, Any] = {
            "model": self.model,
            "messages": req.messages,
            "max_tokens": req.max_tokens,
            "temperature": self.load.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.load.ignore_eos:
            body["ignore_eos"] = True
        if self.load.min_tokens is not None:
            body["min_tokens"] = min(self.load.min_tokens, req.max_tokens)
        keep_text = self.load.turns > 1 or self.load.tokenizer is not None
        rec, reply = self._send(body, keep_text)
        if self.slot is not None:
            rec.t_scheduled = self.slot[1]
            rec.send_lag_s = rec.t_start - self.slot[1]
        rec.max_tokens = req.max_tokens
        rec.prompt_tokens_target = req.prompt_tokens_target
        rec.conversation, rec.turn = req.conversation, req.turn
        rec.ignore_eos = self.load.ignore_eos
        rec.min_tokens = body.get("min_tokens")
        rec.user = self.index
        rec.pid = os.getpid()
        if self.load.tokenizer is not None and rec.ok:  # counted by the parent after the run
            rec.output_text = reply
        self.writer.write(rec)
        self._fire(rec)
        self.workload.reply(reply if rec.ok else None)

    def _send(self, body: dict[str, Any], keep_text: bool = False) -> tuple[RequestRecord, str]:
        payload = json.dumps(body).encode()
        for attempt in (0, 1):
            rec = RequestRecord(t_start=time.time(), reconnected=attempt == 1)
            t0 = time.perf_counter()
            timeline = StreamTimeline(rec, keep_text)
            try:
                self.transport.post(payload, timeline, t0)
                return rec, timeline.reply()
            except transport.StaleConnection:
                # A kept-alive connection the server had closed: retry once on a fresh one, and say so.
                if attempt == 0:
                    continue
                rec.error = "ConnectionError: the server closed the connection before responding"
            except Exception as exc:  # any failure is a measured error, never a lost record
                rec.error = f"{type(exc).__name__}: {exc}"[:300]
            rec.ok = False
            rec.e2e_s = time.perf_counter() - t0
            return rec, ""
        raise AssertionError("unreachable")

    def _fire(self, rec: RequestRecord) -> None:
        fire = self.environment.events.request.fire
        exc = None if rec.ok else Exception(rec.error or "error")
        length = rec.completion_tokens or 0
        fire(request_type="LLM", name="chat", response_time=(rec.e2e_s or 0) * 1000, response_length=length, exception=exc, context={})
        if rec.ok and rec.ttft_s is not None:
            fire(request_type="LLM", name="ttft", response_time=rec.ttft_s * 1000, response_length=length, exception=None, context={})
        if rec.ok and rec.completion_tokens and rec.completion_tokens > 1 and rec.ttft_s is not None and rec.e2e_s is not None:
            tpot = (rec.e2e_s - rec.ttft_s) / (rec.completion_tokens - 1)
            fire(request_type="LLM", name="tpot", response_time=tpot * 1000, response_length=length, exception=None, context={})
