"""Stands in for the `vllm` executable in fault-injection tests: `fake_vllm serve MODEL [flags]`.

A real HTTP server that replays what vLLM 0.26.0 answered on an H100 (the captures in
$FAKE_VLLM_FIXTURES, i.e. ../shared/fixtures/vllm-0.26.0): /health, /v1/models (with the served
name), /version, chat completions (JSON and the recorded SSE stream, event by event), completions,
the 404 for an unknown model, and /metrics (the idle capture until a request past the warm-up was
answered, then $FAKE_VLLM_METRICS_AFTER, default metrics_after_load_seqs8.txt). Flags are checked
against the recorded `vllm serve --help=all`: an unknown one fails like vLLM's argparse (exit 2).
With VLLM_API_KEY set (vLLM reads it too), /v1/* answer 401 without `Authorization: Bearer <key>`.

Fault injection (environment):
  FAKE_VLLM_MODE=oom          print vLLM's start-up log then CUDA's out-of-memory error; exit 1 (no port)
  FAKE_VLLM_DIE_AFTER=<s>     once serving, die after <s> seconds with an out-of-memory error (exit 1)
  FAKE_VLLM_STARTUP_S=<s>     seconds before the port opens (default 0.3)
  FAKE_VLLM_ITL_S=<s>         gap between streamed events (default 0.004)
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

OPTION_LINE = re.compile(r"^  (-{1,2}[A-Za-z0-9][\w-]*.*)$")
CAPTURED_NAME = "smollm2-135m-instruct"

OOM_TRACE = """(EngineCore pid={pid}) ERROR 11-23 19:02:11 [core.py:1042] EngineCore failed to start.
(EngineCore pid={pid}) ERROR 11-23 19:02:11 [core.py:1042] Traceback (most recent call last):
(EngineCore pid={pid}) ERROR 11-23 19:02:11 [core.py:1042]   File "/root/site/vllm/v1/worker/gpu_worker.py", line 312, in determine_available_memory
(EngineCore pid={pid}) ERROR 11-23 19:02:11 [core.py:1042] torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. \
GPU 0 has a total capacity of 79.19 GiB of which 1.06 GiB is free. Including non-PyTorch memory, this process has 78.10 GiB memory in use.
(APIServer pid={pid}) RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {{}}"""


def help_options(text: str) -> set[str]:
    """Every option string (`--x`, `--no-x`, `-q`) of a `vllm serve --help=all` text."""
    flags: set[str] = set()
    for line in text.splitlines():
        m = OPTION_LINE.match(line)
        if m:
            head = re.split(r"\s{2,}", m.group(1))[0]
            flags.update(part.partition(" ")[0] for part in head.split(", "))
    return flags


class Replay:
    """The captured bodies, with the captured model name swapped for the served one."""

    def __init__(self, fixtures: Path, served: str, metrics_after: str):
        def read(name: str) -> str:
            return (fixtures / name).read_text().replace(CAPTURED_NAME, served)

        self.served = served
        self.models = read("models.json")
        self.version = read("version.json")
        self.chat = read("chat.json")
        self.completion = read("completion.json")
        self.not_found = read("error_model_not_found.txt").split("\nHTTP")[0]
        self.events = [e for e in read("chat_stream.sse").split("\n\n") if e.strip()]
        self.metrics_idle = (fixtures / "metrics_idle.txt").read_bytes()
        self.metrics_after = (fixtures / metrics_after).read_bytes()
        self.api_key = os.environ.get("VLLM_API_KEY")
        self.itl_s = float(os.environ.get("FAKE_VLLM_ITL_S", "0.004"))
        self.chats = 0
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # like uvicorn: keep-alive, streams in chunked transfer encoding
    replay: Replay

    def log_message(self, fmt: str, *args) -> None:  # an access log like uvicorn's, on stdout
        print(f"INFO:     127.0.0.1 - \"{self.command} {self.path}\" {args[1] if len(args) > 1 else ''}", flush=True)

    def _send(self, code: int, body: bytes | str, ctype: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        key = self.replay.api_key
        if key and self.path.startswith("/v1") and self.headers.get("Authorization") != f"Bearer {key}":
            self._send(401, json.dumps({"error": "Unauthorized"}))
            return False
        return True

    def do_GET(self) -> None:
        r = self.replay
        if not self._authorized():
            return
        if self.path == "/health":
            self._send(200, b"")
        elif self.path == "/v1/models":
            self._send(200, r.models)
        elif self.path == "/version":
            self._send(200, r.version)
        elif self.path == "/metrics":
            with r.lock:
                body = r.metrics_after if r.chats > 1 else r.metrics_idle  # the first chat is the warm-up
            self._send(200, body, "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._send(404, json.dumps({"detail": "Not Found"}))

    def do_POST(self) -> None:
        r = self.replay
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if not self._authorized():
            return
        if body.get("model") != r.served:
            self._send(404, r.not_found)
            return
        if self.path == "/v1/completions":
            self._send(200, r.completion)
            return
        if self.path != "/v1/chat/completions":
            self._send(404, json.dumps({"detail": "Not Found"}))
            return
        with r.lock:
            r.chats += 1
        if not body.get("stream"):
            self._send(200, r.chat)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in r.events:
            time.sleep(r.itl_s)
            data = event.encode() + b"\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def parse(argv: list[str], known: set[str] | None) -> dict[str, str]:
    """`serve MODEL --flag value ...` -> the few values the fake needs; unknown flags exit 2 like argparse."""
    if not argv or argv[0] != "serve":
        print("usage: vllm [-h] [-v] {chat,complete,serve,bench,collect-env,run-batch} ...", file=sys.stderr)
        raise SystemExit(2)
    flags = [a.split("=", 1)[0] for a in argv[1:] if a.startswith("-")]
    unknown = [f for f in flags if known is not None and f not in known]
    if unknown:
        print("usage: vllm serve [model_tag] [options]", file=sys.stderr)
        print(f"vllm serve: error: unrecognized arguments: {' '.join(unknown)}", file=sys.stderr, flush=True)
        raise SystemExit(2)
    values: dict[str, str] = {}
    for flag, value in zip(argv[1:], argv[2:]):
        if flag in ("--port", "--host", "--served-model-name", "--model"):
            values[flag] = value
    return values


def main() -> None:
    fixtures = Path(os.environ["FAKE_VLLM_FIXTURES"])
    known = help_options((fixtures / "serve_help_all.txt").read_text())
    values = parse(sys.argv[1:], known)
    served = values.get("--served-model-name", "model")
    print(f"(APIServer pid={os.getpid()}) INFO [utils.py:253] non-default args: {sys.argv[2:]}", flush=True)
    time.sleep(float(os.environ.get("FAKE_VLLM_STARTUP_S", "0.3")))
    if os.environ.get("FAKE_VLLM_MODE") == "oom":
        print(OOM_TRACE.format(pid=os.getpid()), flush=True)
        raise SystemExit(1)
    replay = Replay(fixtures, served, os.environ.get("FAKE_VLLM_METRICS_AFTER", "metrics_after_load_seqs8.txt"))
    handler = type("BoundHandler", (Handler,), {"replay": replay})
    server = ThreadingHTTPServer((values.get("--host", "127.0.0.1"), int(values.get("--port", "8000"))), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"(APIServer pid={os.getpid()}) INFO:     Application startup complete.", flush=True)
    die_after = float(os.environ.get("FAKE_VLLM_DIE_AFTER", "0"))
    if die_after:
        time.sleep(die_after)
        print(OOM_TRACE.format(pid=os.getpid()), flush=True)
        os._exit(1)
    threading.Event().wait()


if __name__ == "__main__":
    main()
