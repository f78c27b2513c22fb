"""A real HTTP server that speaks just enough of the OpenAI API to inject faults.

Modes (per server): ok (stream `chunks` content chunks, `interval_s` apart, after `ttft_s`),
drop (close mid-stream, no [DONE]), garbage (non-JSON data), http500, http429 (with Retry-After: `retry_after_s`,
none when it is None), echo_key (streamed requests get a 429 whose body echoes the Authorization header), unhealthy
(/health 503), slow (non-streamed answers asking for > 16 tokens, i.e. not the warm-up, only after `slow_s`, else `ttft_s`),
stall (every completion, the warm-up included, answers nothing for `slow_s`, else an hour; GETs still answer).
Faults of streamed requests only (the readiness warm-up, not streamed, gets through): http503 (no Retry-After),
rate_limited (as http429),
error_body (HTTP 200 with an OpenAI error JSON, no stream), error_sse (a role chunk, then `data: {"error": ...}`, then
the connection closes), error_event (a role chunk, then `event: error`), stall_after (the first `after` streams are
served, later ones stall after one content chunk for `slow_s`, else an hour), endless (content chunks forever).
`MESSAGE` is what the error modes say. Stalls end early when `release` is set (a test's teardown).
`gets` counts GET requests per path (e.g. liveness probes).
`cached_tokens` (None: not said) adds `prompt_tokens_details: {cached_tokens: n}` to each stream's usage, as vLLM
with `--enable-prompt-tokens-details` and OpenAI do.
Structured requests (mode ok): a `response_format: json_schema` request gets a JSON reply fitting its schema, streamed as
content pieces; a `tools` request gets a call of its first tool with arguments fitting its `parameters`, streamed as
`delta.tool_calls` pieces (the name first, then the arguments), finish_reason `tool_calls`. `invalid` (a fraction) makes
that share of each kind invalid, evenly spread: the JSON cut short, or the arguments not JSON, or (every other invalid tool
call, as vLLM sends a call that never parses) no delta at all with finish_reason `length`; `structured` counts them and
`invalid_sent` the invalid ones.
`tokenize` = "llamacpp" or "vllm" answers POST /tokenize in that server's shape (one token per
whitespace-separated word, two for a word longer than `long_words` characters); None answers it 404.
`count_prompts`: each stream's usage.prompt_tokens counts its messages that way (else 5).
`start(..., ssl_context=...)` serves https (tests/integration/test_tls_transport.py makes the certificate).
Run standalone: python -m tests.fakes.openai_server --port 0 --mode ok
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import socket
import ssl
import threading
import time
from http.server import ThreadingHTTPServer

from tests.fakes.json_handler import JsonHandler

MESSAGE = "model overloaded (injected)"
"""What the error modes (http503, error_body, error_sse, error_event) say."""
STREAM_FAULTS = ("http503", "rate_limited", "error_body", "error_sse", "error_event", "stall_after", "endless")


class FakeState:
    def __init__(
        self, mode: str = "ok", chunks: int = 8, ttft_s: float = 0.05, interval_s: float = 0.01, model: str = "fake-model", slots: int = 0,
        tokenize: str | None = None, slow_s: float = 0.0, jitter: float = 0.0, after: int = 0, cached_tokens: int | None = None,
        long_words: int | None = None, count_prompts: bool = False,
    ):
        self.long_words = long_words
        """/tokenize: a word longer than this many characters is two tokens (None: every word is one)."""
        self.count_prompts = count_prompts
        """Each stream's usage.prompt_tokens counts its messages' tokens by the /tokenize rule (else 5), no chat template."""
        self.cached_tokens = cached_tokens
        self.invalid = 0.0
        """Structured requests: the fraction answered with an invalid reply (spread evenly over them)."""
        self.structured = 0
        self.invalid_sent = 0
        self.of_kind: dict[str, int] = {}
        """Structured requests per kind ("json", "tools"): the invalid share is spread evenly over each."""
        """Cached prompt tokens each stream's usage reports (`prompt_tokens_details`); None: the usage does not say."""
        self.after = after
        """stall_after: streams served before the stalls begin."""
        self.streamed = 0
        """Streamed completion requests received."""
        self.release = threading.Event()
        self.jitter = jitter
        """Every programmed delay is multiplied by a random factor in [1 - jitter, 1 + jitter] (injected noise)."""
        self.slow_s = slow_s
        self.retry_after_s = 1
        self.tokenize = tokenize
        self.tokenize_bodies: list[dict] = []
        self.mode = mode
        self.chunks = chunks
        self.ttft_s = ttft_s
        self.interval_s = interval_s
        self.model = model
        self.slots = threading.Semaphore(slots) if slots else None  # >0: at most this many streams at once, the rest queue
        self.requests = 0
        self.generated = 0
        self.streaming = 0
        """Streams being answered now (/metrics: llamacpp:requests_processing)."""
        self.waiting = 0
        """Streams queued for a slot (/metrics: llamacpp:requests_deferred)."""
        self.bodies: list[dict] = []  # the last 1000 request bodies, for assertions on what clients sent
        self.gets: dict[str, int] = {}
        self.lock = threading.Lock()

    def count(self, text: str) -> int:
        """Tokens of `text` by the fake's tokenizer: one per whitespace-separated word, two for a long word (`long_words`)."""
        return sum(1 + (self.long_words is not None and len(w) > self.long_words) for w in text.split())


class Handler(JsonHandler):
    state: FakeState

    def do_GET(self) -> None:
        st = self.state
        with st.lock:
            st.gets[self.path] = st.gets.get(self.path, 0) + 1
        if self.path == "/health":
            self._json(503 if st.mode == "unhealthy" else 200, {"status": "ok"})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": st.model, "object": "model"}]})
        elif self.path == "/metrics":
            text = (
                "# TYPE llamacpp:tokens_predicted_total counter\n"
                f"llamacpp:tokens_predicted_total {st.generated}\n"
                "# TYPE llamacpp:prompt_tokens_total counter\n"
                f"llamacpp:prompt_tokens_total {st.requests * 5}\n"
                f"# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing {st.streaming}\n"
                f"# TYPE llamacpp:requests_deferred gauge\nllamacpp:requests_deferred {st.waiting}\n"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        st = self.state
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/tokenize":
            self._tokenize(st, body)
            return
        with st.lock:
            st.requests += 1
            st.bodies = st.bodies[-999:] + [body]
        if st.mode == "stall":
            st.release.wait(st.slow_s or 3600)
            return
        if body.get("stream"):
            with st.lock:
                st.streamed += 1
                nth = st.streamed
            if st.mode in STREAM_FAULTS and st.mode != "rate_limited" and not (st.mode == "stall_after" and nth <= st.after):
                self._fault(st)
                return
        if st.mode == "http500":
            self._json(500, {"error": {"message": "injected failure"}})
            return
        if st.mode == "http429" or (st.mode in ("rate_limited", "echo_key") and body.get("stream")):
            # rate limited, with Retry-After (echo_key: streamed requests only, and the body quotes the caller's key)
            said = self.headers.get("Authorization", "") if st.mode == "echo_key" else ""
            body = json.dumps({"error": {"message": f"rate limited {said}".strip()}}).encode()
            self.send_response(429)
            if st.retry_after_s is not None:
                self.send_header("Retry-After", str(st.retry_after_s))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not body.get("stream"):
            if st.mode == "slow" and int(body.get("max_tokens") or body.get("max_completion_tokens") or 0) > 16:
                # a stalled engine for scoring requests (the readiness warm-up asks for a few tokens and gets through)
                time.sleep(st.slow_s or st.ttft_s)
            self._json(200, {"choices": [{"message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 5, "completion_tokens": 1}})
            return
        with st.lock:
            st.waiting += 1
        with st.slots if st.slots is not None else contextlib.nullcontext():
            with st.lock:
                st.waiting, st.streaming = st.waiting - 1, st.streaming + 1
            try:
                self._stream(st, body)
            finally:
                with st.lock:
                    st.streaming -= 1

    def _fault(self, st: FakeState) -> None:
        """A streamed request's programmed fault (STREAM_FAULTS)."""
        error = {"error": {"message": MESSAGE, "type": "server_error", "code": 503}}
        if st.mode == "http503":
            self._json(503, error)
            return
        if st.mode == "error_body":
            self._json(200, error)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        role = b'data: {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}\n\n'
        token = b'data: {"choices": [{"index": 0, "delta": {"content": " tok"}}]}\n\n'
        try:
            self.wfile.write(role)
            self.wfile.flush()
            if st.mode == "error_sse":
                self.wfile.write(f"data: {json.dumps(error)}\n\n".encode())
            elif st.mode == "error_event":
                self.wfile.write(f"event: error\ndata: {json.dumps(error)}\n\n".encode())
            elif st.mode == "stall_after":
                self.wfile.write(token)
                self.wfile.flush()
                st.release.wait(st.slow_s or 3600)
            else:  # endless: until the client goes away
                while not st.release.is_set():
                    self.wfile.write(token)
                    self.wfile.flush()
                    time.sleep(st.interval_s)
        except OSError:
            pass  # the client gave up (a timeout): nothing more to say
        self.close_connection = True

    def _tokenize(self, st: FakeState, body: dict) -> None:
        with st.lock:
            st.tokenize_bodies = st.tokenize_bodies[-999:] + [body]
        if st.tokenize == "llamacpp":  # like llama-server: no `content` -> no tokens
            self._json(200, {"tokens": list(range(st.count(str(body.get("content", "")))))})
        elif st.tokenize == "vllm":  # like vLLM: `prompt` and `model` required, extra keys ignored
            if "prompt" not in body or body.get("model") != st.model:
                self._json(422 if "prompt" not in body else 404, {"error": {"message": "bad tokenize request"}})
                return
            n = st.count(body["prompt"])
            self._json(200, {"count": n, "max_model_len": 4096, "tokens": list(range(n)), "token_strs": None})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def _event_stream(self):  # noqa: ANN202
        """Start a 200 text/event-stream answer; the function that sends one `data:` event (a JSON object or a string)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()

        def send(obj) -> None:
            data = obj if isinstance(obj, str) else json.dumps(obj)
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()
        return send

    def _stream(self, st: FakeState, body: dict) -> None:
        n = min(st.chunks, int(body.get("max_tokens") or st.chunks))
        if st.mode == "ok" and (body.get("tools") or (body.get("response_format") or {}).get("type") == "json_schema"):
            self._structured(st, body, n)
            return
        send = self._event_stream()

        send({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        noisy = (lambda d: d * random.uniform(1 - st.jitter, 1 + st.jitter)) if st.jitter else (lambda d: d)
        time.sleep(noisy(st.ttft_s))
        for i in range(n):
            if i:
                time.sleep(noisy(st.interval_s))
            if st.mode == "garbage" and i == 1:
                send("{this is not json")
                continue
            send({"choices": [{"index": 0, "delta": {"content": f" tok{i}"}}]})
            with st.lock:
                st.generated += 1
            if st.mode == "drop" and i == n // 2:
                return  # connection closes: no usage, no [DONE]
        send({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
        p = sum(st.count(str(m.get("content", ""))) for m in body.get("messages") or []) if st.count_prompts else 5
        usage = {"prompt_tokens": p, "completion_tokens": n, "total_tokens": p + n}
        if st.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": st.cached_tokens}
        send({"choices": [], "usage": usage})
        send("[DONE]")


    def _structured(self, st: FakeState, body: dict, n: int) -> None:
        """A JSON reply or a tool call, streamed in about `n` pieces; invalid for the programmed share of requests."""
        kind = "tools" if body.get("tools") else "json"
        with st.lock:
            st.structured += 1
            k = st.of_kind[kind] = st.of_kind.get(kind, 0) + 1  # spread evenly over each kind's requests
            invalid = int(k * st.invalid) > int((k - 1) * st.invalid)  # the k-th is invalid when the share's count steps up
            st.invalid_sent += invalid
            withheld = invalid and kind == "tools" and int(k * st.invalid) % 2 == 1
        send = self._event_stream()

        def pieces(text: str) -> list[str]:
            size = max(1, -(-len(text) // max(1, n)))
            return [text[i:i + size] for i in range(0, len(text), size)]

        send({"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]})
        time.sleep(st.ttft_s)
        if body.get("tools"):
            fn = body["tools"][0]["function"]
            args = json.dumps(example(fn.get("parameters", {"type": "object"})))
            args = args[:-1] if invalid else args  # cut: not JSON
            deltas = [{"tool_calls": [{"index": 0, "id": "call_0", "type": "function", "function": {"name": fn["name"], "arguments": ""}}]}]
            deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces(args)]
            finish = "tool_calls"
            if withheld:  # every other invalid call (the first one too) withheld, as vLLM does with a call that
                time.sleep(st.interval_s * len(deltas))  # never parses: tokens generated, no delta, cut at max_tokens
                with st.lock:
                    st.generated += len(deltas)
                send({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
                send({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": len(deltas), "total_tokens": 5 + len(deltas)}})
                send("[DONE]")
                return
        else:
            text = json.dumps(example(body["response_format"]["json_schema"]["schema"]))
            text = text[: len(text) // 2] if invalid else text
            deltas = [{"content": p} for p in pieces(text)]
            finish = "stop"
        for i, delta in enumerate(deltas):
            if i:
                time.sleep(st.interval_s)
            send({"choices": [{"index": 0, "delta": delta}]})
        with st.lock:
            st.generated += len(deltas)
        send({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        send({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": len(deltas), "total_tokens": 5 + len(deltas)}})
        send("[DONE]")


def example(schema: dict) -> object:
    """A value fitting a (simple) JSON schema: enums' first value, objects with every property, one-item arrays."""
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        return {k: example(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [example(schema.get("items") or {"type": "string"})]
    return {"string": "text", "integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, "text")


class TLSServer(ThreadingHTTPServer):
    """https: each accepted connection is wrapped in `ssl_context` and shakes hands in its own thread."""

    ssl_context: ssl.SSLContext
    handshake_errors: list[str]
    """Handshakes that failed (e.g. the client rejected the certificate), as the server saw them."""

    def get_request(self):  # noqa: ANN201 - socketserver's signature
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else Nagle holds a reply behind TLS 1.3's session tickets
        conn.settimeout(10)  # a client that never finishes the handshake cannot hold the thread forever
        return self.ssl_context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address) -> None:  # noqa: ANN001
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            self.handshake_errors.append(f"{type(exc).__name__}: {exc}")
            return
        request.settimeout(None)
        super().finish_request(request, client_address)


def start(state: FakeState, port: int = 0, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    """Serve `state` on a thread; with `ssl_context` (a server-side context holding the certificate), https."""
    handler = type("BoundHandler", (Handler,), {"state": state})
    if ssl_context is None:
        server = ThreadingHTTPServer((host, port), handler)
    else:
        server = TLSServer((host, port), handler)
        server.ssl_context = ssl_context
        server.handshake_errors = []
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mode", default="ok")
    p.add_argument("--chunks", type=int, default=8)
    p.add_argument("--ttft", type=float, default=0.05)
    p.add_argument("--interval", type=float, default=0.01)
    p.add_argument("--model", default="fake-model")
    p.add_argument("--after", type=int, default=0, help="stall_after: streams served before the stalls begin")
    p.add_argument("--retry-after", type=int, default=1, help="http429's Retry-After in seconds; -1: none")
    p.add_argument("--die-after", type=float, default=0, help="exit the process after this many seconds")
    a = p.parse_args()
    state = FakeState(a.mode, a.chunks, a.ttft, a.interval, a.model, after=a.after)
    state.retry_after_s = None if a.retry_after < 0 else a.retry_after
    server = start(state, a.port)
    print(f"listening on {server.server_address[1]}", flush=True)
    if a.die_after:
        time.sleep(a.die_after)
        raise SystemExit(3)
    threading.Event().wait()


if __name__ == "__main__":
    main()
