"""A real HTTP server that scores prompts the way vLLM does for lm-eval's loglikelihood tasks.

- `GET /tokenizer_info`, `POST /tokenize`, `POST /detokenize`: vLLM's tokenizer endpoints (lm-eval's remote
  tokenizer), over a word-level vocabulary: each piece is a word with its leading whitespace, ids assigned
  on first sight;
- `POST /v1/completions` with `echo: true, logprobs: 1, max_tokens: 1` and the prompt as token ids (one list
  or a batch of lists): `choices[i].logprobs` = {tokens, token_logprobs, top_logprobs} over the prompt plus
  one generated token, as vLLM answers.
The toy model: a word in `good_words` has log-probability -0.1, any other -2.0; the first prompt token has
none (null). So a multiple-choice continuation wins exactly when it is a good word. Bodies are kept.
`error` set: every completion is answered HTTP 200 with OpenAI's error JSON carrying that message.
"""

from __future__ import annotations

import re
import threading
from http.server import ThreadingHTTPServer

from tests.fakes.json_handler import JsonHandler

_PIECE = re.compile(r"\s*\S+|\s+$")


class State:
    def __init__(self, good_words: set[str], model: str = "scorer", error: str | None = None):
        self.good = {w.lower() for w in good_words}
        self.error = error
        self.model = model
        self.vocab: dict[str, int] = {"</s>": 0}
        self.pieces: list[str] = ["</s>"]
        self.completions: list[dict] = []
        self.lock = threading.Lock()

    def encode(self, text: str) -> list[int]:
        with self.lock:
            out = []
            for piece in _PIECE.findall(text):
                if piece not in self.vocab:
                    self.vocab[piece] = len(self.pieces)
                    self.pieces.append(piece)
                out.append(self.vocab[piece])
            return out

    def logprob(self, token: int) -> float:
        return -0.1 if self.pieces[token].strip().lower() in self.good else -2.0


class Handler(JsonHandler):
    state: State

    def do_GET(self) -> None:
        if self.path == "/tokenizer_info":
            self._json(200, {"eos_token": "</s>", "bos_token": None, "pad_token": None, "model_max_length": 4096})
        else:
            super().do_GET()

    def do_POST(self) -> None:
        body = self._body()
        st = self.state
        if self.path == "/tokenize":
            self._json(200, {"tokens": st.encode(body.get("prompt", "")), "count": 0, "max_model_len": 4096})
        elif self.path == "/detokenize":
            self._json(200, {"prompt": "".join(st.pieces[t] for t in body.get("tokens", []))})
        elif self.path == "/v1/completions":
            with st.lock:
                st.completions.append(body)
            if st.error:
                self._json(200, {"error": {"message": st.error, "type": "server_error"}})
                return
            prompts = body.get("prompt")
            if prompts and isinstance(prompts[0], int):
                prompts = [prompts]
            if not body.get("echo") or not all(isinstance(p, list) for p in prompts or [None]):
                self._json(400, {"error": {"message": "this fake scores token-id prompts with echo only"}})
                return
            choices = []
            for i, ids in enumerate(prompts):
                lps = [None] + [st.logprob(t) for t in ids[1:]] + [-1.0]  # the prompt, then one generated token
                toks = [st.pieces[t] for t in ids] + ["</s>"]
                tops = [None] + [{tok: lp} for tok, lp in zip(toks[1:], lps[1:])]
                choices.append({"index": i, "text": "".join(toks), "finish_reason": "length",
                                "logprobs": {"tokens": toks, "token_logprobs": lps, "top_logprobs": tops, "text_offset": []}})
            self._json(200, {"id": "c", "object": "text_completion", "model": st.model, "choices": choices})
        else:
            self._json(404, {"error": {"message": f"no {self.path} here"}})


def start(state: State, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": state})
    srv = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv
