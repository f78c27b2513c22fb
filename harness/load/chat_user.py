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

import json
import os
import threading
import time
from typing import Any

import requests
from locust import User, constant, events, task

from harness.load.prompts import PromptGenerator
from harness.load.records import RequestRecord
from harness.load.sse import SSEDecoder, parse_chat_event
from harness.spec.model import LoadSpec


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


class _RecordWriter:
    """Appends one JSON line per record and flushes it, so a crash loses nothing already measured."""

    _lock = threading.Lock()

    def __init__(self, path: str):
        self.path = path
        self._fh = open(path, "a", buffering=1) if path else None  # noqa: SIM115 - lives for the process

    def write(self, rec: RequestRecord) -> None:
        if self._fh is None:
            return
        with self._lock:
            self._fh.write(rec.to_json() + "\n")
            self._fh.flush()


_shared: dict[str, Any] = {}


def _setup(environment: Any) -> dict[str, Any]:
    """Per-process state, built once from the parsed options."""
    if _shared:
        return _shared
    opts = environment.parsed_options
    load = LoadSpec.model_validate_json(opts.harness_load) if opts and opts.harness_load else LoadSpec()
    path = opts.records if opts else ""
    if path and environment.runner is not None and type(environment.runner).__name__ == "WorkerRunner":
        path = f"{path}.{os.getpid()}"
    key_env = opts.api_key_env if opts else ""
    headers = {"Content-Type": "application/json"}
    if key_env and os.environ.get(key_env):
        headers["Authorization"] = f"Bearer {os.environ[key_env]}"
    model = opts.model if opts and opts.model else ""
    if not model:
        r = requests.get(environment.host.rstrip("/") + "/v1/models", headers=headers, timeout=30)
        r.raise_for_status()
        model = r.json()["data"][0]["id"]
    _shared.update(load=load, writer=_RecordWriter(path), headers=headers, model=model, next_user=0)
    return _shared


class ChatUser(User):
    """One simulated chat client: closed loop, one streaming request at a time."""

    wait_time = constant(0)

    def on_start(self) -> None:
        shared = _setup(self.environment)
        self.load: LoadSpec = shared["load"]
        self.writer: _RecordWriter = shared["writer"]
        self.headers: dict[str, str] = shared["headers"]
        self.model: str = shared["model"]
        self.index = shared["next_user"]
        shared["next_user"] += 1
        self.prompts = PromptGenerator(self.load.prompt_tokens, self.load.output_tokens, self.load.seed, stream=os.getpid() * 100_000 + self.index)
        self.url = self.host.rstrip("/") + "/v1/chat/completions"
        self.session = requests.Session()

    def on_stop(self) -> None:
        self.session.close()

    @task
    def chat(self) -> None:
        sample = self.prompts.next()
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": sample.text}],
            "max_tokens": sample.max_tokens,
            "temperature": self.load.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.load.ignore_eos:
            body["ignore_eos"] = True
        rec = self._send(body)
        rec.max_tokens = sample.max_tokens
        rec.prompt_tokens_target = sample.target_tokens
        rec.user = self.index
        rec.pid = os.getpid()
        self.writer.write(rec)
        self._fire(rec)

    def _send(self, body: dict[str, Any]) -> RequestRecord:
        payload = json.dumps(body).encode()
        reuse = self.load.reuse_connections
        for attempt in (0, 1):
            session = self.session if reuse else requests.Session()
            rec = RequestRecord(t_start=time.time())
            t0 = time.perf_counter()
            try:
                self._stream(session, payload, rec, t0)
                return rec
            except requests.ConnectionError as exc:
                # A pooled connection the server had closed: retry once on a fresh one, and say so.
                if reuse and attempt == 0 and rec.status is None:
                    self.session.close()
                    self.session = requests.Session()
                    continue
                rec.error = f"ConnectionError: {exc}"[:300]
                rec.e2e_s = time.perf_counter() - t0
                return rec
            except Exception as exc:  # any failure is a measured error, never a lost record
                rec.error = f"{type(exc).__name__}: {exc}"[:300]
                rec.e2e_s = time.perf_counter() - t0
                return rec
            finally:
                if not reuse:
                    session.close()
                if attempt == 1:
                    rec.reconnected = True
        raise AssertionError("unreachable")

    def _stream(self, session: requests.Session, payload: bytes, rec: RequestRecord, t0: float) -> None:
        with session.post(self.url, data=payload, headers=self.headers, stream=True, timeout=(10, self.load.request_timeout_s)) as resp:
            rec.status = resp.status_code
            if resp.status_code != 200:
                rec.error = f"HTTP {resp.status_code}: {resp.text[:200]}"
                rec.e2e_s = time.perf_counter() - t0
                return
            decoder = SSEDecoder()
            chars = 0
            done = False
            # read1 returns whatever bytes have arrived (chunked or not), so each event is timed on arrival
            while raw := resp.raw.read1(65536):
                now = time.perf_counter() - t0
                for data in decoder.feed(raw):
                    chunk = parse_chat_event(data)
                    if chunk.error:
                        rec.error = chunk.error
                    if chunk.reasoning and rec.first_reasoning_s is None:
                        rec.first_reasoning_s = now
                    if chunk.content:
                        if rec.ttft_s is None:
                            rec.ttft_s = now
                        rec.chunk_offsets_s.append(now)
                        chars += len(chunk.content)
                    if chunk.finish_reason:
                        rec.finish_reason = chunk.finish_reason
                    if chunk.usage:
                        rec.prompt_tokens = chunk.usage.get("prompt_tokens")
                        rec.completion_tokens = chunk.usage.get("completion_tokens")
                    if chunk.done:
                        done = True
            rec.e2e_s = time.perf_counter() - t0
            rec.output_chars = chars
            if rec.error is None and not done:
                rec.error = "IncompleteStream: the stream ended without [DONE]"
            if rec.error is None and rec.ttft_s is None and (rec.completion_tokens or 0) > 0:
                rec.error = "NoContent: usage reports tokens but no content arrived"
            rec.ok = rec.error is None

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
