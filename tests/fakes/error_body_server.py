"""A real HTTP server whose scoring answers are errors: what lm-eval gets from an overloaded or misconfigured server.

Non-streamed chat completions asking for more than 16 tokens (lm-eval's; the readiness warm-up asks for a few and
always gets a reply) are answered by the mode of the model they name (`models`: model -> mode):
- ok: the answer to the question (`answers`: the last user turn -> answer, else "I do not know") after a short
  `<think>` block, unless `fail` names the question (question -> one of the modes below);
- error200: HTTP 200 with OpenAI's error JSON, `{"error": {"message": MESSAGE, ...}}`;
- nochoices: HTTP 200 with `{"choices": []}`;
- ctx400: HTTP 400 with llama.cpp's body for a prompt longer than its context (`exceed_context_size_error`).
`asked` counts scoring requests per question. Streamed requests get a short stream (a load can run against it).
"""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

from tests.fakes.json_handler import JsonHandler

MESSAGE = "model overloaded"
CONTEXT = "request (1154 tokens) exceeds the available context size (1024 tokens), try increasing it"
THOUGHT = "<think>Let me see.</think>\n\n"


class State:
    def __init__(self, models: dict[str, str], answers: dict[str, str] | None = None, fail: dict[str, str] | None = None):
        self.models = models
        self.model = next(iter(models))
        self.answers = answers or {}
        self.fail = dict(fail or {})
        self.asked: dict[str, int] = {}
        self.lock = threading.Lock()


class Handler(JsonHandler):
    state: State

    def do_GET(self) -> None:
        if self.path.startswith("/v1/models"):
            self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in self.state.models]})
        else:
            super().do_GET()

    def do_POST(self) -> None:
        body = self._body()
        st = self.state
        if not self.path.startswith("/v1/chat/completions"):
            self._json(404, {"error": {"message": f"no {self.path} here"}})
            return
        if body.get("stream"):
            self._stream()
            return
        users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
        question = str(users[-1]).strip() if users else ""
        mode = st.models.get(body.get("model"), "ok")
        if int(body.get("max_tokens") or 0) <= 16:
            mode = "ok"  # the readiness warm-up
        else:
            with st.lock:
                st.asked[question] = st.asked.get(question, 0) + 1
        if mode == "ok":
            mode = st.fail.get(question, mode)
        if mode == "error200":
            self._json(200, {"error": {"message": MESSAGE, "type": "server_error", "code": 503}})
        elif mode == "nochoices":
            self._json(200, {"id": "x", "object": "chat.completion", "choices": []})
        elif mode == "ctx400":
            self._json(400, {"error": {"code": 400, "message": CONTEXT, "type": "exceed_context_size_error",
                                       "n_prompt_tokens": 1154, "n_ctx": 1024}})
        else:
            content = THOUGHT + st.answers.get(question, "I do not know")
            self._json(200, {"id": "r", "object": "chat.completion", "model": body.get("model"),
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for chunk in ({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}]},
                      {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                      {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}, "[DONE]"):
            self.wfile.write(f"data: {chunk if isinstance(chunk, str) else json.dumps(chunk)}\n\n".encode())
        self.wfile.flush()


def start(state: State, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": state})
    srv = ThreadingHTTPServer((host, port), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv
