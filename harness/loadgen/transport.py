"""How a Locust user sends one streaming request: through the process's reactor, or through `requests`.

Imported only inside a Locust (gevent) process. Both transports fill a `StreamTimeline` with the
same definitions (docs/metrics.md) and raise `StaleConnection` when a kept-alive connection turned
out to be closed by the server before any response byte (the caller retries once on a fresh one).
"""

from __future__ import annotations

import functools
import select
import socket
import ssl
import time
from typing import Protocol
from urllib.parse import urlsplit

import gevent.socket
import gevent.ssl
import requests
import requests.adapters
import urllib3
from gevent import monkey

from harness.loadgen.reactor import Stream, StreamReactor
from harness.loadgen.sse import body_message
from harness.loadgen.timeline import StreamTimeline
from harness.spec.load import TLSSpec

CONNECT_TIMEOUT_S = 10.0
ERROR_BODY_BYTES = 4096
"""How much of a non-200 answer's body is read for the server's message."""


def timed_out(timeout_s: float) -> str:
    """The error text of a request that hit `load.request_timeout_s` (after its `TimeoutError: ` kind)."""
    return f"no complete response within {timeout_s:g} s (load.request_timeout_s)"


def retry_after(status: int | None, value: str | None) -> float | None:
    """Seconds to wait from a 429/503 answer's Retry-After (delta-seconds or an HTTP date), else None."""
    if status not in (429, 503) or not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class StaleConnection(ConnectionError):
    """A reused connection was closed by the server; safe to retry on a new one."""


class Transport(Protocol):
    reused: bool
    """Whether the last `post` went over a kept-alive connection."""

    def post(self, payload: bytes, timeline: StreamTimeline, t0: float) -> None: ...

    def close(self) -> None: ...


def pick(kind: str, base_url: str) -> str:
    """`load.http_client` resolved: auto = the reactor, for http:// and https:// alike."""
    if kind != "auto":
        return kind
    return "reactor" if urlsplit(base_url).scheme in ("http", "https") else "requests"


@functools.lru_cache(maxsize=8)
def tls_context(verify: bool, ca_file: str | None, cooperative: bool) -> ssl.SSLContext:
    """The client TLS context of `load.tls`, one per process and setting: the same checks for both transports.

    verify: the chain against `ca_file`, else the system CA store, and the host name (SNI is sent for names).
    `cooperative`: gevent's context (the reactor's handshake and sends yield), else the `ssl` module's (urllib3's).
    """
    ctx = (gevent.ssl.SSLContext if cooperative else ssl.SSLContext)(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname, CERT_REQUIRED
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_file is not None:
        ctx.load_verify_locations(cafile=ca_file)
    else:
        ctx.load_default_certs()
    return ctx


_poll = monkey.get_original("select", "poll") if monkey.is_module_patched("select") else select.poll


def _readable(sock: socket.socket) -> bool:
    """Whether a socket has something to read right now (never blocks, never yields)."""
    p = _poll()
    p.register(sock.fileno(), select.POLLIN)
    return bool(p.poll(0))


Resolved = dict[tuple[str, int], tuple[int, tuple]]
"""(host, port) -> (address family, socket address): a process's resolver cache (`ProcessState.resolved`)."""


def _resolve(addr: tuple[str, int], cache: Resolved) -> tuple[int, tuple]:
    if addr not in cache:
        family, _, _, _, sockaddr = gevent.socket.getaddrinfo(addr[0], addr[1], 0, socket.SOCK_STREAM)[0]
        cache[addr] = (family, sockaddr)
    return cache[addr]


class ReactorTransport:
    """One connection per user (kept alive when asked), read by the process's `StreamReactor`.

    `reactor` and `resolved` are the process's (`ProcessState`); without them the transport gets its own.
    """

    def __init__(
        self, url: str, headers: dict[str, str], timeout_s: float, reuse: bool,
        reactor: StreamReactor | None = None, resolved: Resolved | None = None, tls: TLSSpec | None = None,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"the reactor client speaks http and https, not {parts.scheme!r}; set load.http_client: requests")
        tls = tls or TLSSpec()
        self._tls = tls_context(tls.verify, tls.ca_file, True) if parts.scheme == "https" else None
        self.addr = (parts.hostname or "127.0.0.1", parts.port or (443 if self._tls else 80))
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.netloc.rsplit("@", 1)[-1]
        lines = [f"Host: {host}", "Accept: text/event-stream", f"Connection: {'keep-alive' if reuse else 'close'}"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")]
        self._head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self.timeout_s = timeout_s
        self.reuse = reuse
        self.reused = False
        self._sock: socket.socket | None = None
        self._reactor = reactor if reactor is not None else StreamReactor()
        self._resolved: Resolved = {} if resolved is None else resolved

    def _connect(self) -> socket.socket:
        # resolved once per process: gevent resolves names in a thread pool, a GIL hand-off per request
        family, sockaddr = _resolve(self.addr, self._resolved)
        sock = gevent.socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            sock.connect(sockaddr)
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:  # the handshake, cooperatively, within the connect timeout; a bad certificate raises here
            try:
                sock = self._tls.wrap_socket(sock, server_hostname=self.addr[0])
            except BaseException:
                sock.close()
                raise
        sock.settimeout(self.timeout_s)
        return sock

    def post(self, payload: bytes, timeline: StreamTimeline, t0: float) -> None:
        rec = timeline.rec
        if self._sock is not None and _readable(self._sock):
            self.close()  # an idle kept connection with something to read was closed by the server
        self.reused = self._sock is not None
        sock = self._sock or self._connect()
        self._sock = None
        error_body: list[bytes] = []

        def on_body(offset: float, data: bytes) -> None:
            if stream.status == 200:
                timeline.feed(offset, data)
            elif sum(map(len, error_body)) < ERROR_BODY_BYTES:
                error_body.append(data)

        request = b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (self.path.encode(), self._head, len(payload))
        stream = Stream(sock, on_body, t0)
        stream.tls = self._tls is not None
        keep = False
        try:
            sock.settimeout(self.timeout_s)  # the reactor left a kept TLS socket non-blocking
            sock.sendall(request + payload)
            self._reactor.add(stream)
            if not stream.done.wait(self.timeout_s - (time.perf_counter() - t0)):
                rec.timed_out = True
                self._reactor.cancel(stream, TimeoutError(timed_out(self.timeout_s)))
            rec.status = stream.status
            if stream.error is not None:
                if self.reused and stream.status is None and not stream.received_any:
                    raise StaleConnection(str(stream.error))
                if stream.status == 200:  # what arrived is kept; an error the server sent first wins
                    timeline.finish((stream.t_end or time.perf_counter()) - t0, f"{type(stream.error).__name__}: {stream.error}"[:300])
                    return
                raise stream.error
            end = (stream.t_end or time.perf_counter()) - t0
            if stream.status != 200:
                rec.error = f"HTTP {stream.status}: {body_message(b''.join(error_body).decode('utf-8', 'replace'))}"
                rec.e2e_s = end
                rec.retry_after_s = retry_after(stream.status, stream.parser.get("retry-after"))
                return
            timeline.finish(end)
            keep = self.reuse and stream.keep_alive
        except BaseException:
            if not stream.done.is_set():
                self._reactor.cancel(stream, ConnectionAbortedError("request abandoned"))
            raise
        finally:
            if keep:
                self._sock = sock
            else:
                sock.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class RequestsTransport:
    """`requests` with `read1`: proxies and everything else urllib3 supports; slower per chunk."""

    def __init__(self, url: str, headers: dict[str, str], timeout_s: float, reuse: bool, tls: TLSSpec | None = None):
        self.url = url
        self.tls = tls or TLSSpec()
        if not self.tls.verify:  # said once by the spec; urllib3 would repeat it on every request
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.headers = headers
        self.timeout_s = timeout_s
        self.reuse = reuse
        self.reused = False
        self._session: requests.Session | None = None

    def post(self, payload: bytes, timeline: StreamTimeline, t0: float) -> None:
        self.reused = self._session is not None
        session = self._session or self._new_session()
        self._session = None
        rec = timeline.rec
        try:
            # verify per request: a session's verify=False loses to REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (requests' merge)
            with session.post(self.url, data=payload, headers=self.headers, stream=True, timeout=(CONNECT_TIMEOUT_S, self.timeout_s),
                              verify=self.tls.verify) as resp:
                rec.status = resp.status_code
                if resp.status_code != 200:
                    rec.error = f"HTTP {resp.status_code}: {body_message(resp.text[:ERROR_BODY_BYTES])}"
                    rec.e2e_s = time.perf_counter() - t0
                    rec.retry_after_s = retry_after(resp.status_code, resp.headers.get("retry-after"))
                    return
                # read1 returns whatever bytes have arrived (chunked or not), so each event is timed on arrival;
                # urllib3's read timeout is per read, so the request's own deadline is checked here
                try:
                    while raw := resp.raw.read1(65536):
                        now = time.perf_counter() - t0
                        timeline.feed(now, raw)
                        if now > self.timeout_s:
                            rec.timed_out = True
                            break
                except (urllib3.exceptions.HTTPError, OSError) as exc:  # a timeout or a reset mid-stream: what arrived is kept
                    rec.timed_out = isinstance(exc, (urllib3.exceptions.ReadTimeoutError, TimeoutError))
                    session.close()
                    why = f"TimeoutError: {timed_out(self.timeout_s)}" if rec.timed_out else f"{type(exc).__name__}: {exc}"[:300]
                    timeline.finish(time.perf_counter() - t0, why)
                    return
                timeline.finish(time.perf_counter() - t0, f"TimeoutError: {timed_out(self.timeout_s)}" if rec.timed_out else None)
        except requests.ReadTimeout as exc:  # no answer within load.request_timeout_s: the reactor's words
            rec.timed_out = True
            session.close()
            raise TimeoutError(timed_out(self.timeout_s)) from exc
        except requests.ConnectionError as exc:
            session.close()
            if self.reused and rec.status is None:
                raise StaleConnection(str(exc)) from exc
            raise
        if rec.timed_out:
            session.close()
            return
        if self.reuse:
            self._session = session
        else:
            session.close()

    def _new_session(self) -> requests.Session:
        return tls_session(self.tls)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class _TLSAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections trust exactly the given context's CAs (not certifi, not REQUESTS_CA_BUNDLE)."""

    def __init__(self, context: ssl.SSLContext):
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **{**kwargs, "ssl_context": self._context})

    def proxy_manager_for(self, proxy, **proxy_kwargs):  # noqa: ANN001, ANN201 - requests' signature
        return super().proxy_manager_for(proxy, **{**proxy_kwargs, "ssl_context": self._context})

    def build_connection_pool_key_attributes(self, request, verify, cert=None):  # noqa: ANN001, ANN201 - requests' signature
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        pool.pop("ca_certs", None)  # urllib3 would load them into the shared context
        pool.pop("ca_cert_dir", None)
        return host, pool

    def cert_verify(self, conn, url, verify, cert) -> None:  # noqa: ANN001 - requests' signature
        super().cert_verify(conn, url, verify, cert)
        conn.ca_certs = conn.ca_cert_dir = None  # requests' default: its certifi bundle


def tls_session(tls: TLSSpec) -> requests.Session:
    """A requests session with `load.tls`'s context (the system CA store, as the reactor, rather than requests' certifi)."""
    session = requests.Session()
    session.mount("https://", _TLSAdapter(tls_context(tls.verify, tls.ca_file, False)))
    return session


def make(
    kind: str, url: str, headers: dict[str, str], timeout_s: float, reuse: bool,
    reactor: StreamReactor | None = None, resolved: Resolved | None = None, tls: TLSSpec | None = None,
) -> Transport:
    """`tls`: `load.tls` (None = its defaults: verify against the system CA store)."""
    if pick(kind, url) == "reactor":
        return ReactorTransport(url, headers, timeout_s, reuse, reactor, resolved, tls)
    return RequestsTransport(url, headers, timeout_s, reuse, tls)
