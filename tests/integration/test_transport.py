"""Both stream transports, driven directly (gevent, no Locust) against real servers on loopback.

The reactor transport is the default for http:// and https:// (`load.http_client: auto`); the
requests one handles proxies. Each must produce the same record for the same stream, keep what
arrived before a fault, and say which fault it was.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

gevent = pytest.importorskip("gevent")

from benchmarks._server import SSEServer  # noqa: E402
from harness.loadgen import transport  # noqa: E402
from harness.loadgen.record import RequestRecord  # noqa: E402
from harness.loadgen.timeline import StreamTimeline  # noqa: E402
from tests.fakes.openai_server import MESSAGE, FakeState, start  # noqa: E402

BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10, "stream": True}).encode()
HEADERS = {"Content-Type": "application/json"}
KINDS = ["reactor", "requests"]


def _post(t: transport.Transport) -> RequestRecord:
    """What ChatUser._send does, minus Locust: one request through `t`, errors recorded."""
    rec = RequestRecord(t_start=time.time())
    t0 = time.perf_counter()
    tl = StreamTimeline(rec)
    try:
        t.post(BODY, tl, t0)
    except transport.StaleConnection:
        raise
    except Exception as exc:  # noqa: BLE001
        rec.error = f"{type(exc).__name__}: {exc}"
        rec.e2e_s = time.perf_counter() - t0
    return rec


@pytest.fixture
def sse_keepalive() -> Iterator[SSEServer]:
    srv = SSEServer(chunks=10, interval=0.02, ttft=0.1, extra=["--keep-alive"])
    with srv:
        yield srv


@pytest.mark.parametrize("kind", KINDS)
def test_chunked_keepalive_stream_matches_programmed_timing(sse_keepalive, kind):
    t = transport.make(kind, sse_keepalive.url + "/v1/chat/completions", HEADERS, 10, reuse=True)
    recs = [_post(t) for _ in range(3)]
    t.close()
    for rec in recs:
        assert rec.ok, rec.error
        assert rec.completion_tokens == 10 and len(rec.chunk_offsets_s) == 10
        assert 0.095 <= rec.ttft_s <= 0.15  # programmed 100 ms
        gaps = [b - a for a, b in zip(rec.chunk_offsets_s, rec.chunk_offsets_s[1:])]
        assert 0.015 <= sorted(gaps)[len(gaps) // 2] <= 0.03  # programmed 20 ms
    assert t.reused  # the third request went over the first one's connection
    assert sse_keepalive.stats()["streams"] == 3


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "mode,kind_of_error",
    [("drop", "IncompleteStream"), ("http500", "HTTP 500: injected failure"), ("garbage", "MalformedStream: "),
     ("http503", f"HTTP 503: {MESSAGE}"), ("error_body", f"ErrorBody: {MESSAGE}"), ("error_sse", f"StreamError: {MESSAGE}"),
     ("error_event", f"StreamError: {MESSAGE}"), ("endless", "TimeoutError: no complete response within 1 s (load.request_timeout_s)")],
)
def test_faults_keep_what_arrived(kind, mode, kind_of_error):
    state = FakeState(mode=mode, chunks=8, ttft_s=0.01, interval_s=0.005)
    srv = start(state)
    try:
        t = transport.make(kind, f"http://127.0.0.1:{srv.server_address[1]}/v1/chat/completions", HEADERS, 1, reuse=False)
        rec = _post(t)
    finally:
        state.release.set()
        srv.shutdown()
    assert not rec.ok and (rec.error or "").startswith(kind_of_error), rec.error
    assert rec.timed_out == (mode == "endless")
    if mode == "drop":
        assert len(rec.chunk_offsets_s) == 5  # chunks before the drop are kept
    if mode == "http500":
        assert rec.status == 500
    if mode == "endless":  # given up at the request's deadline, with what arrived until then
        assert 1.0 <= rec.e2e_s < 3 and rec.ttft_s is not None and len(rec.chunk_offsets_s) > 10


def _recv(conn: socket.socket) -> bytes:
    data = conn.recv(65536)
    if not data:  # the client went away: stop (an empty read repeats forever and would spin this thread)
        raise ConnectionError("client closed before a whole request")
    return data


def _read_request(conn: socket.socket) -> None:
    """Read one whole request (head and Content-Length body: `requests` sends them in separate writes)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += _recv(conn)
    head, body = buf.split(b"\r\n\r\n", 1)
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += _recv(conn)


class RawServer:
    """A TCP server whose per-connection behaviour is a script: for faults `http.server` can't make."""

    def __init__(self, script: Callable[[socket.socket, int], None]):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn, self.connections), daemon=True).start()

    def _one(self, conn: socket.socket, n: int) -> None:
        with conn:
            try:
                _read_request(conn)
                self.script(conn, n)
            except ConnectionError:  # the client went away (a script waiting for its next request ends too)
                return

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def close(self) -> None:
        self.sock.close()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'
TAIL = b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\ndata: [DONE]\n\n'


def _respond_once_then(after: str) -> Callable[[socket.socket, int], None]:
    """One complete keep-alive response, then: `idle-close` closes at once; `close-on-next` waits for the next request and closes."""

    def script(conn: socket.socket, n: int) -> None:
        conn.sendall(HEAD + _chunk(EVENT + TAIL) + b"0\r\n\r\n")
        if after == "close-on-next":
            _read_request(conn)

    return script


@pytest.mark.parametrize("kind", KINDS)
def test_connection_closed_while_idle_is_replaced_before_sending(kind):
    srv = RawServer(_respond_once_then("idle-close"))
    try:
        t = transport.make(kind, srv.url, HEADERS, 5, reuse=True)
        assert _post(t).ok
        time.sleep(0.2)  # the server has closed the kept connection by now
        rec = _post(t)
        t.close()
    finally:
        srv.close()
    assert rec.ok, rec.error
    assert srv.connections == 2


@pytest.mark.parametrize("kind", KINDS)
def test_connection_closed_on_the_next_request_raises_for_one_retry(kind):
    srv = RawServer(_respond_once_then("close-on-next"))
    try:
        t = transport.make(kind, srv.url, HEADERS, 5, reuse=True)
        assert _post(t).ok
        with pytest.raises(transport.StaleConnection):
            _post(t)
        assert _post(t).ok  # the retry goes over a new connection
        t.close()
    finally:
        srv.close()
    assert srv.connections == 2


def test_stall_times_out_and_keeps_the_first_chunk():
    srv = RawServer(lambda conn, n: (conn.sendall(HEAD + _chunk(EVENT)), time.sleep(3)))
    try:
        t = transport.make("reactor", srv.url, HEADERS, 0.5, reuse=False)
        t0 = time.perf_counter()
        rec = _post(t)
        took = time.perf_counter() - t0
    finally:
        srv.close()
    assert not rec.ok and "TimeoutError" in rec.error and "load.request_timeout_s" in rec.error
    assert len(rec.chunk_offsets_s) == 1 and rec.ttft_s is not None
    assert 0.45 <= took < 1.5


def test_chunked_stream_cut_short_keeps_its_chunks():
    srv = RawServer(lambda conn, n: conn.sendall(HEAD + _chunk(EVENT) + _chunk(EVENT)))  # then closes, mid-body
    try:
        rec = _post(transport.make("reactor", srv.url, HEADERS, 2, reuse=False))
    finally:
        srv.close()
    assert not rec.ok and rec.status == 200 and "StreamClosed: connection closed before the response ended" in rec.error
    assert len(rec.chunk_offsets_s) == 2


def test_not_http_at_all_is_a_parse_error():
    srv = RawServer(lambda conn, n: conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n" * 4))
    try:
        rec = _post(transport.make("reactor", srv.url, HEADERS, 2, reuse=False))
    finally:
        srv.close()
    assert not rec.ok and rec.status is None and "Parse" in rec.error


def test_connection_refused_is_an_error_not_a_retry():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rec = _post(transport.make("reactor", f"http://127.0.0.1:{port}/v1/chat/completions", HEADERS, 2, reuse=True))
    assert not rec.ok and "ConnectionRefusedError" in rec.error


def test_auto_picks_reactor_for_http_and_https(tmp_path: Path):
    assert transport.pick("auto", "http://h:1/v1/chat/completions") == "reactor"
    assert transport.pick("auto", "https://h/v1/chat/completions") == "reactor"  # TLS: tests/integration/test_tls_transport.py
    assert transport.pick("requests", "http://h/v1") == "requests"
    with pytest.raises(ValueError, match="load.http_client"):
        transport.ReactorTransport("ftp://h/v1/chat/completions", HEADERS, 1, False)
