"""Locust user: streaming chat completions with exact per-request timing.

Imported only inside a Locust process (it imports locust, which monkey-patches with gevent);
the harness runs Locust as a subprocess. By hand:

    locust -f "$(python -m harness.webui)" --host http://127.0.0.1:8080     # with the LLM tab (harness/webui/)

opens the web UI (on 127.0.0.1 unless `--web-host` says otherwise); the model is discovered from
/v1/models unless `--model` is given. Each request fires one Locust request event, `chat`
(request_type `LLM`, end-to-end time), so Locust's own counts and rates are real requests, and
writes one raw record (JSON line) to `--records` as soon as it finishes; TTFT, TPOT and ITL are
computed from those records (harness/load/stats.py; live in the web UI's LLM tab, harness/webui/).
With `load.requests` the user that finishes the last request ends the test (a local worker
process asks its master to).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import gevent
from gevent import GreenletExit
from locust import User, events, task
from locust.user.task import LOCUST_STATE_RUNNING, LOCUST_STATE_STOPPING, LOCUST_STATE_WAITING

from harness.loadgen import process_state, relay, stopping, structured, transport, workload
from harness.loadgen.count import RequestBudget
from harness.loadgen.pacer import SharedPacer
from harness.loadgen.process_state import RecordWriter
from harness.loadgen.record import RequestRecord
from harness.loadgen.timeline import StreamTimeline
from harness.loadgen.transport import Transport
from harness.loadgen.workload import ChatRequest, Source
from harness.spec.load import LoadSpec

IDLE_S = 3600.0
RETRY_AFTER_MAX_S = 60.0
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
WEB_HOST = "127.0.0.1"
"""Default `--web-host` (Locust's own default is every interface)."""
REQUESTS_DONE = "harness_requests_done"
"""Custom message: a local worker process tells its master that the last of `load.requests` finished."""


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
    # the harness's own plumbing between its local processes: not start-form fields
    parser.add_argument("--pacer-file", type=str, env_var="HARNESS_PACER_FILE", default="", include_in_web_ui=False,
                        help="Open loop: file through which local processes share one arrival schedule")
    parser.add_argument("--requests-file", type=str, env_var="HARNESS_REQUESTS_FILE", default="", include_in_web_ui=False,
                        help="load.requests: file through which local processes share the request count")
    parser.add_argument("--harness-words", type=str, env_var="HARNESS_WORDS_FILE", default="", include_in_web_ui=False,
                        help="load.workload.exact_lengths: the fitted prompt vocabulary (JSON, harness/load/exact_lengths.py)")
    parser.add_argument("--lag-file", type=str, env_var="HARNESS_LAG_FILE", default="", include_in_web_ui=False,
                        help="Write this process's event-loop lag samples (ms) to <lag-file>.<pid>")
    # the web UI listens on loopback unless asked otherwise (`--web-host '*'` for all interfaces, as Locust spells it)
    parser.set_defaults(web_host=WEB_HOST)


@events.init.add_listener
def _init(environment: Any, runner: Any = None, **_: Any) -> None:
    """Master/worker across machines: records travel to the master over Locust's channel (harness/loadgen/relay.py).

    The process's shared state is made when its test starts (a remote worker gets its options then).
    """
    # Locust's --run-time timer (gevent.spawn_later) counts from the event loop's cached time, which went stale while
    # the process imported: without this the run ended 1-3 s early on a busy machine (3 s asked, 1.7 s run)
    gevent.get_hub().loop.update_now()
    worker = relay.install(environment, runner) if runner is not None else None
    if runner is not None and type(runner).__name__ == "MasterRunner":
        runner.register_message(REQUESTS_DONE, lambda *_, **__: gevent.spawn(runner.quit))
    environment.events.test_start.add_listener(lambda environment, **_: process_state.start(environment, worker))
    stopping.install(environment)  # a hurried stop (the harness's second Ctrl-C) still records every request in flight


class StoppedMidRequest(BaseException):
    """The user was stopped (killed) while its request was in flight: `record` holds what arrived, then `exit` goes on."""

    def __init__(self, record: RequestRecord, exit: BaseException):
        super().__init__(record.error)
        self.record = record
        self.exit = exit


class ChatUser(User):
    """One simulated chat client: closed loop (back to back) or open loop (sends at the shared pacer's times)."""

    def wait_time(self) -> float:
        """Closed loop: none. Open loop: until this user's next claimed arrival (interruptible, unlike a task)."""
        if self.pacer is None:
            return IDLE_S if self.budget is not None and self.budget.spent() else 0.0
        self.slot = self.pacer.claim()
        if self.slot is None:
            return IDLE_S  # the schedule is over; Locust's run time ends the test
        return max(0.0, self.slot[1] - time.time())

    def on_start(self) -> None:
        state = process_state.current()
        self.load: LoadSpec = state.spec
        self.writer: RecordWriter = state.writer
        self.headers: dict[str, str] = state.headers
        auth = self.headers.get("Authorization", "")
        self.key = auth[len("Bearer "):] if auth.startswith("Bearer ") and len(auth) > len("Bearer ") + 3 else ""
        self.model: str = state.model
        self.pacer: SharedPacer | None = state.pacer
        self.budget: RequestBudget | None = state.budget
        self.slot: tuple[int, float] | None = None
        self.index = next(state.user_numbers)
        self.failures_in_a_row = 0
        stream = state.stream_seed * 100_000 + self.index
        self.workload: Source = structured.wrap(self.load, stream, workload.make(self.load, stream, state.prepared))
        self.url = self.host.rstrip("/") + "/v1/chat/completions"
        self.transport: Transport = transport.make(
            self.load.http_client, self.url, self.headers, self.load.request_timeout_s, self.load.reuse_connections, state.reactor, state.resolved,
            self.load.tls,
        )
        if self.pacer is not None:  # the first task runs before any wait_time
            self.slot = self.pacer.claim()
            if self.slot is not None:  # none: the task sends nothing and wait_time idles (interruptibly)
                gevent.sleep(max(0.0, self.slot[1] - time.time()))

    def on_stop(self) -> None:
        self.transport.close()

    @task
    def chat(self) -> None:
        if self.pacer is not None and self.slot is None:  # the schedule is over
            return
        if self.budget is not None and not self.budget.take():  # load.requests were all started
            return
        req: ChatRequest = self.workload.next(self.slot[0] if self.slot is not None else None)  # a trace sends the arrival's row
        if req.pause_s and self.pacer is None:  # an agent's think time (open loop: the schedule decides)
            self._pause(req.pause_s)
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
        body.update(req.extra)
        checked = req.kind in structured.KINDS  # a structured reply is validated: its text and tool calls are kept
        # a reply's text is kept where the source uses it (a history), is counted (load.tokenizer) or checked
        keep_text = self.workload.keeps_replies or self.load.tokenizer is not None or checked
        stopped: BaseException | None = None
        calls: list[dict[str, str]] = []
        try:
            rec, reply, calls = self._send(body, keep_text, withheld=req.kind == structured.TOOLS)
        except StoppedMidRequest as exc:  # the load was stopped during this request: it is recorded, then the user stops
            rec, reply, stopped = exc.record, "", exc.exit
        if rec.error and self.key and self.key in rec.error:  # a server that echoes the bearer token: never on disk
            rec.error = rec.error.replace(self.key, "***")
        if self.slot is not None:
            rec.t_scheduled = self.slot[1]
            rec.send_lag_s = rec.t_start - self.slot[1]
        rec.max_tokens = req.max_tokens
        rec.prompt_tokens_target = req.prompt_tokens_target
        rec.conversation, rec.turn = req.conversation, req.turn
        rec.kind, rec.prefix_group, rec.history = req.kind, req.prefix_group, req.history
        spec = self.load.workload.structured
        if checked and rec.ok and spec is not None:  # served: is the output what was asked for?
            rec.output_valid, rec.invalid_reason = structured.check(spec, req.kind, reply, calls, rec.finish_reason)
        rec.ignore_eos = self.load.ignore_eos
        rec.min_tokens = body.get("min_tokens")
        rec.user = self.index
        rec.pid = os.getpid()
        if self.load.tokenizer is not None and rec.ok:  # counted by the parent after the run
            rec.output_text = reply
        if stopped is not None:  # a record like any other (the server received the request), then the stop goes on
            self.writer.write(rec)
            self._fire(rec)
            raise stopped
        wait = self._pause_after(rec)
        self.writer.write(rec)
        self._fire(rec)
        self.workload.reply(reply if rec.ok else None)
        if self.budget is not None:
            if self.budget.finish():
                self._end_test()
            if self.budget.spent():  # nothing more to send: no reason to wait
                return
        if wait:
            self._pause(wait)

    def _pause(self, seconds: float) -> None:
        """A pause between requests (Retry-After, backoff) that a stop ends at once, like Locust's own `wait()`: no
        request is in flight, so a stopping user is not waited for (a graceful stop would wait up to --stop-timeout)."""
        if self._state == LOCUST_STATE_STOPPING:
            return
        self._state = LOCUST_STATE_WAITING  # a stop now kills this user at once
        gevent.sleep(seconds)
        if self._state != LOCUST_STATE_STOPPING:
            self._state = LOCUST_STATE_RUNNING

    def _end_test(self) -> None:
        """The last of `load.requests` finished: stop the test now (never from inside this user's own greenlet)."""
        runner = self.environment.runner
        if type(runner).__name__ == "WorkerRunner":
            runner.send_message(REQUESTS_DONE)
        else:
            gevent.spawn(runner.quit)

    def _pause_after(self, rec: RequestRecord) -> float:
        """Seconds to wait before the next request: a 429/503's Retry-After (honoured, capped), or, closed loop,
        an exponential backoff (BACKOFF_FIRST_S doubling up to BACKOFF_MAX_S) after every failed request without
        one: a connection failure, an HTTP error (5xx, a 429 without Retry-After), an error body or error event,
        a broken stream, a timeout. A failing server is not hammered at thousands of requests/s; a success resets
        it. Open loop: the schedule, not the user, decides when to send, so no backoff."""
        if rec.retry_after_s is not None:
            return min(rec.retry_after_s, RETRY_AFTER_MAX_S)
        if rec.ok:
            self.failures_in_a_row = 0
            return 0.0
        self.failures_in_a_row += 1
        if self.pacer is not None:
            return 0.0
        rec.backoff_s = min(BACKOFF_FIRST_S * 2 ** min(self.failures_in_a_row - 1, 30), BACKOFF_MAX_S)
        return rec.backoff_s

    def _send(self, body: dict[str, Any], keep_text: bool = False, withheld: bool = False
              ) -> tuple[RequestRecord, str, list[dict[str, str]]]:
        payload = json.dumps(body).encode()
        for attempt in (0, 1):
            rec = RequestRecord(t_start=time.time(), reconnected=attempt == 1)
            t0 = time.perf_counter()
            timeline = StreamTimeline(rec, keep_text, withheld)
            try:
                self.transport.post(payload, timeline, t0)
                return rec, timeline.reply(), timeline.tool_calls()
            except transport.StaleConnection:
                # A kept-alive connection the server had closed: retry once on a fresh one, and say so.
                if attempt == 0:
                    continue
                rec.error = "ConnectionError: the server closed the connection before responding"
            except Exception as exc:  # any failure is a measured error, never a lost record
                rec.error = f"{type(exc).__name__}: {exc}"[:300]
            except GreenletExit as exc:  # Locust killed this user mid-request (a stop): failed, with the chunks that arrived
                if not stopping.records_cut(self.environment):
                    raise
                timeline.finish(time.perf_counter() - t0)
                if not rec.ok:
                    rec.error = stopping.INTERRUPTED
                raise StoppedMidRequest(rec, exc) from None
            rec.ok = False
            rec.e2e_s = time.perf_counter() - t0
            return rec, "", []
        raise AssertionError("unreachable")

    def _fire(self, rec: RequestRecord) -> None:
        """One Locust request event per request (`chat`): TTFT/TPOT are not requests, so they are not events."""
        exc = None if rec.ok else Exception(rec.error or "error")
        self.environment.events.request.fire(request_type="LLM", name="chat", response_time=(rec.e2e_s or 0) * 1000,
                                             response_length=rec.completion_tokens or 0, exception=exc, context={})
