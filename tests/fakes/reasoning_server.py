"""A real HTTP server playing a reasoning model: chat completions whose answers come after (or beside) a thought.

It knows the answer to each question it was given (`answers`: the last user turn -> answer) and says it
in one of three shapes (`shapes`: question -> shape, else `shape`), as reasoning servers do:
- inline: `content` = "<think>...</think>\\n\\n<answer>" (the reasoning inside the content);
- field: `reasoning_content` = the thought, `content` = the answer (vLLM's and llama-server's reasoning parsers);
- open: `content` = "...</think> <answer>" (the chat template opened <think> in the prompt).
The thought mentions a wrong number, so a scorer that keeps it sees a wrong answer. Unknown questions are
answered "I do not know". Bodies received are kept for assertions.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

from tests.fakes.json_handler import JsonHandler

THOUGHT = "Let me think. Maybe it is 999? No, let me work it out step by step."


class State:
    def __init__(self, answers: dict[str, str], shape: str = "inline", shapes: dict[str, str] | None = None, model: str = "reasoner"):
        self.answers = answers
        self.shape = shape
        self.shapes = shapes or {}
        self.model = model
        self.bodies: list[dict] = []
        self.lock = threading.Lock()


class Handler(JsonHandler):
    state: State

    def do_POST(self) -> None:
        body = self._body()
        with self.state.lock:
            self.state.bodies.append(body)
        if not self.path.startswith("/v1/chat/completions"):
            self._json(404, {"error": {"message": f"no {self.path} here"}})
            return
        users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
        question = users[-1].strip() if users else ""
        answer = self.state.answers.get(question, "I do not know")
        shape = self.state.shapes.get(question, self.state.shape)
        message: dict = {"role": "assistant"}
        if shape == "field":
            message |= {"content": answer, "reasoning_content": THOUGHT}
        elif shape == "open":
            message |= {"content": f"{THOUGHT}</think> {answer}"}
        else:
            message |= {"content": f"<think>{THOUGHT}</think>\n\n{answer}"}
        self._json(200, {"id": "r", "object": "chat.completion", "model": self.state.model,
                         "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})


def start(state: State, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": state})
    srv = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv
