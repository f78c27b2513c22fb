"""Is a server ready (health, model listed, one completion answered), and is it still there?

`wait_ready` retries (tenacity) under a hard deadline: every probe's timeout is capped by the time
left, and it races the server process (if it exits, waiting stops at once with the tail of its log).
`Liveness` watches an attached endpoint, which has no process: a rate-limited probe that
declares it dead after a few connection failures in a row.
"""

from __future__ import annotations

import time
from typing import Protocol

import httpx

from harness.errors import ReadinessTimeout, ServerError, ServerExitedError
from harness.server.endpoint import Endpoint
from harness.server.process import matched_cause

PROBE_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 2.0
MIN_TIMEOUT_S = 0.1
MAX_WAIT_S = 5.0
"""The longest wait between two readiness probes."""
POLL_EXIT_S = 0.1
"""How often a wait between probes checks whether the process exited."""


class _Watched(Protocol):
    def poll(self) -> int | None: ...
    def log_tail(self, lines: int = 40) -> str: ...


class NotReady(Exception):
    """One readiness probe failed (retried); `unreachable` when nothing answered at all."""

    def __init__(self, reason: str, unreachable: bool = False):
        self.unreachable = unreachable
        super().__init__(reason)


def unreachable(exc: httpx.HTTPError) -> str | None:
    """'connection refused' and the like when `exc` means nothing answers; None for a slow or bad answer."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "no connection within the timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else f"cannot connect ({exc})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was closed without an answer"
    if isinstance(exc, httpx.ReadError):
        return "the connection was reset"
    return None


def _check_alive(proc: _Watched | None, engine: str | None = None, answered_at: str | None = None) -> None:
    if proc is None or (code := proc.poll()) is None:
        return
    log = proc.log_tail(60)
    found = matched_cause(log, engine)
    if answered_at is None:
        raise ServerExitedError(f"server exited with code {code} before it was ready", code, log,
                                found.text if found else None, found is not None and found.transient)
    # ready answers while our own process is gone came from someone else on the port
    raise ServerExitedError(
        f"server exited with code {code}, yet something else answered at {answered_at}: another process holds the port",
        code, log, found.text if found else "the port is taken: leave server.port empty to pick a free one")


def probe(endpoint: Endpoint, client: httpx.Client, warmup_max_tokens: int, deadline: float | None = None) -> None:
    """One full readiness check; raises NotReady with the reason, or ServerError at once when the server wants an API key
    it was not sent (401/403). No request outlives `deadline` (monotonic)."""

    def send(what: str, method: str, path: str, **kw) -> httpx.Response:
        left = PROBE_TIMEOUT_S if deadline is None else max(deadline - time.monotonic(), MIN_TIMEOUT_S)
        timeout = min(PROBE_TIMEOUT_S, left)
        try:
            limits = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT_S, left))
            return client.request(method, endpoint.base_url + path, timeout=limits, **kw)
        except httpx.HTTPError as exc:
            gone = unreachable(exc)
            if gone is not None:
                raise NotReady(gone, unreachable=True) from exc
            if isinstance(exc, httpx.TimeoutException):
                raise NotReady(f"{what} did not answer within {timeout:.1f}s") from exc
            raise NotReady(f"{what}: {type(exc).__name__}: {exc}") from exc

    health = send("/health", "GET", "/health")
    if health.status_code != 200:
        raise NotReady(f"/health answered {health.status_code}")
    models = send("/v1/models", "GET", "/v1/models", headers=endpoint.headers())
    if models.status_code in (401, 403):  # a key missing or refused does not come right by waiting
        fix = (f"check that the variable {endpoint.api_key_env} holds the server's key" if endpoint.api_key_env else
               "name the variable holding its key in server.api_key_env")
        raise ServerError(f"{endpoint.base_url}/v1/models answered {models.status_code}: the server wants an API key; {fix}")
    if models.status_code != 200:
        raise NotReady(f"/v1/models answered {models.status_code}")
    try:
        ids = [m.get("id") for m in models.json().get("data", [])]
    except (ValueError, AttributeError, TypeError):
        raise NotReady("/v1/models did not answer an OpenAI model list") from None
    if endpoint.model not in ids:
        raise NotReady(f"/v1/models lists {ids}, not '{endpoint.model}'")
    body = {
        "model": endpoint.model,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": warmup_max_tokens,
        "temperature": 0,
    }
    chat = send("the warm-up completion", "POST", "/v1/chat/completions", json=body, headers=endpoint.headers())
    if chat.status_code != 200:
        raise NotReady(f"warm-up completion answered {chat.status_code}: {chat.text[:200]}")
    try:
        choices = chat.json().get("choices")
    except (ValueError, AttributeError):
        raise NotReady("the warm-up completion did not answer JSON") from None
    if not choices:
        raise NotReady("warm-up completion had no choices")


def wait_ready(
    endpoint: Endpoint,
    deadline_s: float,
    proc: _Watched | None = None,
    warmup_max_tokens: int = 8,
    poll_s: float = 0.5,
) -> float:
    """Block until `endpoint` is ready; returns the seconds it took. Gives up at `deadline_s`, not a probe timeout later.

    tenacity retries the probe while it is not ready (NotReady), waiting `poll_s` doubled per try up to
    MAX_WAIT_S, capped by the time left; it stops at the deadline or when the process exits (its sleep wakes then).
    Anything else a probe raises (a refused API key, the process gone) ends the wait at once."""
    from tenacity import RetryError, Retrying, retry_if_exception_type, wait_exponential

    started = time.monotonic()
    deadline = started + deadline_s
    backoff = wait_exponential(multiplier=poll_s, max=MAX_WAIT_S)

    def attempt() -> None:
        _check_alive(proc, endpoint.engine)
        try:
            with httpx.Client() as client:
                probe(endpoint, client, warmup_max_tokens, deadline)
        except NotReady:
            _check_alive(proc, endpoint.engine)  # gone during the probe: that is the news, not the probe's failure
            raise
        _check_alive(proc, endpoint.engine, answered_at=endpoint.base_url)

    retrying = Retrying(
        retry=retry_if_exception_type(NotReady),
        stop=lambda state: time.monotonic() >= deadline or (proc is not None and proc.poll() is not None),
        wait=lambda state: min(backoff(state), max(deadline - time.monotonic(), 0.0)),
        sleep=lambda seconds: _sleep(seconds, proc),
    )
    try:
        retrying(attempt)
    except RetryError as exc:
        _check_alive(proc, endpoint.engine)  # stopped because the process exited
        last = exc.last_attempt.exception()  # a NotReady: nothing else is retried
        raise _timed_out(endpoint, deadline_s, last, proc) from None  # type: ignore[arg-type]
    return time.monotonic() - started


def _sleep(seconds: float, proc: _Watched | None) -> None:
    """Sleep, but wake within POLL_EXIT_S of the watched process exiting."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if proc is not None and proc.poll() is not None:
            return
        time.sleep(min(POLL_EXIT_S, left))


def _timed_out(endpoint: Endpoint, deadline_s: float, last: NotReady, proc: _Watched | None) -> ReadinessTimeout:
    url = endpoint.base_url
    if proc is None and last.unreachable:
        return ReadinessTimeout(f"nothing answers at {url} after {deadline_s:.0f}s ({last}): "
                                "check server.openai.base_url (host and port) and that the server is running")
    if proc is None:
        return ReadinessTimeout(f"endpoint {url} not ready after {deadline_s:.0f}s (last check: {last}); "
                                "check the server and server.served_model_name, or raise server.startup_timeout_s")
    log = proc.log_tail(40)
    return ReadinessTimeout(
        f"server at {url} not ready after {deadline_s:.0f}s (last check: {last}); "
        "raise server.startup_timeout_s if it is still loading"
        + (f"\n--- last lines of the server log ---\n{log}" if log else "")
    )


class Liveness:
    """Is an attached endpoint (no process to watch) still there?

    `alive()` may be called as often as one likes: it probes `path` at most every `every_s`
    (every `retry_s` after a failure). Any HTTP answer, or a slow one, is alive; `failures`
    connection failures in a row (refused, reset, no connection) are death, and stay so.
    """

    def __init__(self, endpoint: Endpoint, path: str = "/health", every_s: float = 2.0, retry_s: float = 1.0,
                 failures: int = 3, timeout_s: float = 3.0):
        self.endpoint = endpoint
        self.url = endpoint.base_url + path
        self.every_s = every_s
        self.retry_s = retry_s
        self.failures = failures
        self.timeout = httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))
        self.problems: list[str] = []
        """The connection failures in a row so far."""
        self.dead = False
        self._next = 0.0

    def alive(self) -> bool:
        if self.dead or time.monotonic() < self._next:
            return not self.dead
        problem = self._probe()
        self.problems = self.problems + [problem] if problem else []
        self.dead = len(self.problems) >= self.failures
        self._next = time.monotonic() + (self.retry_s if problem else self.every_s)
        return not self.dead

    @property
    def problem(self) -> str | None:
        """Why it is dead: 'connection refused at http://host:port' (None while alive)."""
        return f"{self.problems[-1]} at {self.endpoint.base_url}" if self.dead else None

    def _probe(self) -> str | None:
        try:
            httpx.get(self.url, headers=self.endpoint.headers(), timeout=self.timeout)
        except httpx.HTTPError as exc:
            return unreachable(exc)  # None for a timeout: slow, but there
        return None
