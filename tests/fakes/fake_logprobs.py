"""A real HTTP server answering in vLLM 0.26.0's log-probability shapes, over a toy language model.

The captures in ../shared/fixtures/vllm-0.26.0 were taken without logprobs (`"logprobs": null`),
so this fake makes its own answers, in the shapes of vLLM 0.26.0's protocol classes:
- chat completions: `choices[].logprobs.content[]` = {token, logprob, bytes, top_logprobs: [{token,
  logprob, bytes}]} (no ids); with `return_token_ids` the choice's `token_ids` and the top-level
  `prompt_token_ids`;
- completions with `prompt` as token ids and `prompt_logprobs: k`: `choices[].prompt_logprobs` =
  [null, {"<id>": {logprob, rank, decoded_token}, ...}, ...], one entry per prompt token, holding
  the top k and the actual token.

The model: a 16-token vocabulary whose next-token log-probabilities are a seeded function of the
last 3 tokens; `noise` > 0 perturbs the logits (a "quantized" variant), so the exact
full-vocabulary KL between two servers is known (`ToyModel.logprobs`). Greedy, no EOS: every
reply is `max_tokens` long. `reject_prompt_logprobs` answers prompt_logprobs requests with HTTP 400; `delay_s` slows each chat answer.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
import time
import zlib
from http.server import ThreadingHTTPServer

from tests.fakes.json_handler import JsonHandler

VOCAB = ("<|im_start|>", "<|im_end|>", " the", " a", " cat", " sat", " on", " mat", ".", " and", " dog", " ran",
         " to", " it", " is", " red")
TEMPLATE_START, TEMPLATE_END = 0, 1


class ToyModel:
    """Next-token log-probabilities over VOCAB from the last 3 tokens; `noise` scales a second, seeded perturbation."""

    def __init__(self, noise: float = 0.0, scale: float = 2.5):
        self.noise = noise
        self.scale = scale

    def logprobs(self, context: list[int]) -> list[float]:
        key = ",".join(map(str, context[-3:]))
        base = random.Random(_seed("base", key))
        logits = [base.gauss(0.0, self.scale) for _ in VOCAB]
        if self.noise:
            pert = random.Random(_seed("noise", key))
            logits = [x + self.noise * pert.gauss(0.0, 1.0) for x in logits]
        top = max(logits)
        log_z = top + math.log(sum(math.exp(x - top) for x in logits))
        return [x - log_z for x in logits]


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest(), "big")


def tokenize_chat(messages: list[dict]) -> list[int]:
    """The toy chat template: <|im_start|> words... <|im_end|> <|im_start|> (one id per word)."""
    ids = [TEMPLATE_START]
    for m in messages:
        ids += [2 + zlib.crc32(w.encode()) % (len(VOCAB) - 2) for w in str(m.get("content", "")).split()]
    return ids + [TEMPLATE_END, TEMPLATE_START]


class State:
    def __init__(self, model_name: str = "fake-vllm", noise: float = 0.0, reject_prompt_logprobs: bool = False, delay_s: float = 0.0):
        self.model_name = model_name
        self.delay_s = delay_s
        self.model = ToyModel(noise)
        self.reject_prompt_logprobs = reject_prompt_logprobs
        self.bodies: list[tuple[str, dict]] = []
        self.lock = threading.Lock()


class Handler(JsonHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def do_GET(self) -> None:
        if self.path == "/health":
            self._json(200, {})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": self.state.model_name, "object": "model", "owned_by": "vllm"}]})
        else:
            self._json(404, {"error": {"message": "Not Found", "type": "NotFoundError", "code": 404}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        with self.state.lock:
            self.state.bodies.append((self.path, body))
        if body.get("model") != self.state.model_name:
            missing = f"The model `{body.get('model')}` does not exist."
            self._json(404, {"error": {"message": missing, "type": "NotFoundError", "code": 404}})
        elif self.path == "/v1/chat/completions":
            time.sleep(self.state.delay_s)
            self._json(200, self._chat(body))
        elif self.path == "/v1/completions":
            if body.get("prompt_logprobs") is not None and self.state.reject_prompt_logprobs:
                self._json(400, {"error": {"message": "prompt_logprobs is not supported here", "type": "BadRequestError",
                                           "code": 400}})
                return
            self._json(200, self._completion(body))
        else:
            self._json(404, {"error": {"message": "Not Found", "type": "NotFoundError", "code": 404}})

    def _greedy(self, context: list[int], n: int) -> tuple[list[int], list[list[float]]]:
        ids, dists = [], []
        for _ in range(n):
            lp = self.state.model.logprobs(context + ids)
            ids.append(max(range(len(lp)), key=lp.__getitem__))
            dists.append(lp)
        return ids, dists

    def _chat(self, body: dict) -> dict:
        prompt_ids = tokenize_chat(body["messages"])
        ids, dists = self._greedy(prompt_ids, int(body.get("max_tokens") or 16))
        k = int(body.get("top_logprobs") or 0)
        logprobs = None
        if body.get("logprobs"):
            content = []
            for tid, lp in zip(ids, dists):
                ranked = sorted(range(len(lp)), key=lambda i: -lp[i])[:k]
                content.append({"token": VOCAB[tid], "logprob": lp[tid], "bytes": list(VOCAB[tid].encode()),
                                "top_logprobs": [{"token": VOCAB[i], "logprob": lp[i], "bytes": list(VOCAB[i].encode())} for i in ranked]})
            logprobs = {"content": content}
        want_ids = bool(body.get("return_token_ids"))
        message = {"role": "assistant", "content": "".join(VOCAB[i] for i in ids), "refusal": None, "annotations": None,
                   "audio": None, "function_call": None, "tool_calls": [], "reasoning": None}
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": self.state.model_name,
            "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": "length", "stop_reason": None,
                         "token_ids": ids if want_ids else None, "routed_experts": None}],
            "service_tier": None, "system_fingerprint": "vllm-0.26.0-fake",
            "usage": {"prompt_tokens": len(prompt_ids), "total_tokens": len(prompt_ids) + len(ids), "completion_tokens": len(ids),
                      "prompt_tokens_details": None},
            "prompt_logprobs": None, "prompt_token_ids": prompt_ids if want_ids else None, "prompt_text": None,
            "kv_transfer_params": None, "ec_transfer_params": None, "metrics": None,
        }

    def _completion(self, body: dict) -> dict:
        prompt = body["prompt"]
        if not (isinstance(prompt, list) and all(isinstance(i, int) for i in prompt)):
            prompt = tokenize_chat([{"content": str(prompt)}])[1:-2]
        ids, _ = self._greedy(list(prompt), int(body.get("max_tokens") or 16))
        scored = None
        if body.get("prompt_logprobs") is not None:
            k = int(body["prompt_logprobs"])
            scored = [None]
            for pos in range(1, len(prompt)):
                lp = self.state.model.logprobs(list(prompt[:pos]))
                ranks = {t: r + 1 for r, t in enumerate(sorted(range(len(lp)), key=lambda i: -lp[i]))}
                chosen = [t for t in ranks if ranks[t] <= k]
                if prompt[pos] not in chosen:  # vLLM adds the actual prompt token, with its rank
                    chosen.append(prompt[pos])
                scored.append({str(t): {"logprob": lp[t], "rank": ranks[t], "decoded_token": VOCAB[t]} for t in chosen})
        return {
            "id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": self.state.model_name,
            "choices": [{"index": 0, "text": "".join(VOCAB[i] for i in ids), "logprobs": None, "finish_reason": "length",
                         "stop_reason": None, "token_ids": None, "prompt_logprobs": scored, "prompt_token_ids": None,
                         "routed_experts": None}],
            "service_tier": None, "system_fingerprint": "vllm-0.26.0-fake",
            "usage": {"prompt_tokens": len(prompt), "total_tokens": len(prompt) + len(ids), "completion_tokens": len(ids),
                      "prompt_tokens_details": None},
            "kv_transfer_params": None, "ec_transfer_params": None, "metrics": None,
        }


def start(state: State, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), type("BoundHandler", (Handler,), {"state": state}))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
