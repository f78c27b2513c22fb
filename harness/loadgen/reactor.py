"""One reader for every open stream of a Locust process: timestamps taken at the read, not after a switch.

Imported only inside a Locust (gevent) process. Streaming through `requests` costs one greenlet
switch, a timeout object and several Python layers per chunk; at thousands of chunks/s the
process falls behind and every timestamp is late (benchmarks/results/README.md). Here each user
greenlet connects and sends cooperatively (gevent sockets), then hands the socket to the
process's single `StreamReactor`: one greenlet that waits on an epoll set of all streaming
sockets, reads whatever has arrived on each ready socket, stamps it with `perf_counter()` right
after the read, and feeds it to an incremental HTTP parser (geventhttpclient's llhttp binding:
chunked, content-length and close-delimited bodies). The user greenlet sleeps until its
response is complete: one switch per request instead of one per chunk.

https:// streams go the same way: the user greenlet does the TLS handshake and sends (gevent's
`ssl`), then the reactor reads the TLS socket without blocking (`SSLWantReadError`: a record is
not complete yet, wait for the next epoll event; `SSLWantWriteError`: the TLS layer must write
first, wait for the socket to be writable) and stamps the decrypted bytes right after the read.
Records already decrypted and buffered in the TLS object (`pending()`) are read at once, since
epoll only sees the kernel's buffer. No proxy: `load.http_client: requests` for one.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gevent
import gevent.event
from gevent import monkey
from geventhttpclient.response import HTTPResponse

READ_SIZE = 65_536
BATCH = 64
"""Sockets served per epoll poll before yielding to other greenlets (bounds the reader's time slice)."""

OnBody = Callable[[float, bytes], None]
_EVENTS = select.EPOLLIN | select.EPOLLRDHUP


class StreamClosed(ConnectionError):
    """The server closed the connection before a complete response."""


class _Parser(HTTPResponse):
    """geventhttpclient's llhttp parser, with body bytes handed to the stream instead of buffered."""

    def __init__(self, method: str, stream: "Stream"):
        super().__init__(method=method)
        self._stream = stream

    def _on_body(self, buf: bytearray) -> None:
        self._stream.pending.append(bytes(buf))


@dataclass(eq=False)
class Stream:
    """One request/response in flight on one connection."""

    sock: socket.socket
    on_body: OnBody
    t0: float
    """perf_counter() when the request was sent; body arrival offsets are relative to it."""
    method: str = "POST"
    parser: HTTPResponse = field(init=False)
    pending: list[bytes] = field(default_factory=list)
    done: gevent.event.Event = field(default_factory=gevent.event.Event)
    error: BaseException | None = None
    t_end: float | None = None
    received_any: bool = False
    tls: bool = False
    """`sock` is a (gevent) `ssl.SSLSocket`, read through its TLS layer."""
    wants_write: bool = False
    """The TLS layer asked to write before it can read (epoll then waits for writability too)."""

    def __post_init__(self) -> None:
        self.parser = _Parser(self.method, self)

    @property
    def status(self) -> int | None:
        return self.parser.status_code if self.parser.headers_complete else None

    @property
    def keep_alive(self) -> bool:
        return self.parser.message_complete and not self.parser.should_close()


class StreamReactor:
    """Reads all registered streams from one greenlet (one per process: `ProcessState.reactor`)."""

    def __init__(self) -> None:
        epoll = monkey.get_original("select", "epoll") if monkey.is_module_patched("select") else select.epoll
        self._epoll = epoll()
        self._streams: dict[int, Stream] = {}
        self._watcher = gevent.get_hub().loop.io(self._epoll.fileno(), 1)
        self._greenlet = gevent.spawn(self._run)

    def add(self, stream: Stream) -> None:
        fd = stream.sock.fileno()
        self._streams[fd] = stream
        self._epoll.register(fd, _EVENTS)
        if stream.tls:
            stream.sock.settimeout(0.0)  # reads raise SSLWant*Error instead of waiting (the sender sets its timeout again)
            if stream.sock.pending():  # already decrypted: epoll would never say so
                self._read(fd, stream)

    def cancel(self, stream: Stream, error: BaseException) -> None:
        """Stop reading a stream (timeout, user stopped); its socket is the caller's to close."""
        self._finish(stream, error)

    def _finish(self, stream: Stream, error: BaseException | None) -> None:
        fd = stream.sock.fileno()
        if self._streams.get(fd) is stream:
            del self._streams[fd]
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):
                pass
        if stream.t_end is None:
            stream.t_end = time.perf_counter()
        stream.error = stream.error or error
        stream.done.set()

    def _run(self) -> None:
        hub = gevent.get_hub()
        while True:
            hub.wait(self._watcher)
            while True:
                events = self._epoll.poll(0, BATCH)
                for fd, _ in events:
                    stream = self._streams.get(fd)
                    if stream is not None:
                        self._read(fd, stream)
                if len(events) < BATCH:
                    break
                gevent.sleep(0)  # more are ready: let timers and users run first

    def _read(self, fd: int, stream: Stream) -> None:
        try:
            data = self._recv_tls(fd, stream) if stream.tls else os.read(fd, READ_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError):
            return
        except ssl.SSLWantWriteError:
            stream.wants_write = True
            self._epoll.modify(fd, _EVENTS | select.EPOLLOUT)
            return
        except OSError as exc:  # ssl.SSLError included: a broken TLS stream is a measured error
            self._finish(stream, exc)
            return
        now = time.perf_counter()
        parser = stream.parser
        try:
            parser.feed(data)  # b"" tells llhttp the connection closed (ends a close-delimited body)
        except Exception as exc:  # noqa: BLE001 - a malformed response is a measured error
            self._flush(stream, now)
            self._finish(stream, exc if data else StreamClosed("connection closed before the response ended"))
            return
        self._flush(stream, now)
        if parser.message_complete:
            stream.t_end = now
            self._finish(stream, None)
        elif not data:
            self._finish(stream, StreamClosed("connection closed before the response ended" if stream.received_any else "connection closed"))
        else:
            stream.received_any = True

    def _recv_tls(self, fd: int, stream: Stream) -> bytes:
        """What the TLS layer can decrypt now (b"" at the end of the connection); raises SSLWant*Error when nothing yet."""
        sock = stream.sock
        if stream.wants_write:
            stream.wants_write = False
            self._epoll.modify(fd, _EVENTS)
        data = sock.recv(READ_SIZE)
        while data and sock.pending():  # a record larger than the read: its rest is decrypted already, epoll won't signal it
            data += sock.recv(READ_SIZE)
        return data

    @staticmethod
    def _flush(stream: Stream, now: float) -> None:
        if stream.pending:
            body = b"".join(stream.pending)
            stream.pending.clear()
            stream.on_body(now - stream.t0, body)
