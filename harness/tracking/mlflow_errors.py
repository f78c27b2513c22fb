"""One mapping from what MLflow raises to the harness's TrackingError tree, and the retry of transient failures.

Modelled on httpx's `map_httpcore_exceptions`: every MLflow call of the harness runs inside
`with mlflow_errors(action):`, and the MLflow, database, HTTP and file errors raised in the
block leave it as one TrackingError subclass with a one-line message. Anything else (a bug)
passes through unchanged. The classes:

- TrackingLocked: a SQLite store locked by another writer beyond SQLite's own wait (transient);
- TrackingUnavailable: the store cannot be reached or opened (connection refused, timeout, 429/503/504: transient;
  a read-only or corrupt SQLite file: not);
- `missing` (RunNotFound, ArtifactNotFound, ...): the request names something the store does not have;
- TrackingRejected: the store refused this one request (400/409: an invalid or changed value);
- `other`: the rest (500, permission, a full artifact disk).

`RetryingClient` retries each MLflow call while its failure is transient (tenacity: ATTEMPTS tries, backoff).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from harness.errors import HarnessError, TrackingError, TrackingLocked, TrackingRejected, TrackingUnavailable

MAX_REASON = 300
ATTEMPTS = 3
"""Tries of one MLflow call whose failure is transient (SQLite already waits 20 s on a lock in each)."""
WAIT_S = (1.0, 8.0)
"""Exponential backoff between tries: first wait, cap."""
MISSING_CODES = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")
REJECTED_STATUS = (400, 409)
UNAVAILABLE_STATUS = (429, 503, 504)
LOCKED_TEXT = ("database is locked", "database table is locked")


@functools.cache
def _types() -> dict[str, tuple[type[BaseException], ...]]:
    """Exception classes by role, imported on first use (mlflow, requests and sqlalchemy are heavy)."""
    import requests
    import sqlalchemy.exc as sa
    from mlflow.exceptions import MlflowException

    return {
        "known": (MlflowException, requests.RequestException, sa.SQLAlchemyError, OSError),
        "mlflow": (MlflowException,),
        "network": (requests.ConnectionError, requests.Timeout, ConnectionError),
        "database": (sa.OperationalError, sa.InterfaceError),
        "bad_database": (sa.DatabaseError,),
        "sqlalchemy": (sa.SQLAlchemyError,),
    }


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def reason(exc: BaseException) -> str:
    """The exception's first line, bounded."""
    text = str(getattr(exc, "message", "") or exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


def classify(exc: BaseException) -> str | None:
    """locked | network | database | missing | rejected | other; None when `exc` is not a tracking failure."""
    if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: never a tracking failure, never retried
        return None
    t = _types()
    chain = list(_chain(exc))
    if not any(isinstance(e, t["known"]) for e in chain):
        return None
    if any(isinstance(e, t["database"]) or e.__class__.__name__ == "OperationalError" for e in chain) and any(
            s in str(e) for e in chain for s in LOCKED_TEXT):
        return "locked"
    if any(isinstance(e, t["network"]) for e in chain):
        return "network"
    if any(isinstance(e, t["database"]) or type(e) in t["bad_database"] for e in chain):
        return "database"
    mlflow = next((e for e in chain if isinstance(e, t["mlflow"])), None)
    if mlflow is not None:
        code = getattr(mlflow, "error_code", "")
        if code in MISSING_CODES:
            return "missing"
        status = mlflow.get_http_status_code()
        if status in UNAVAILABLE_STATUS and not any(isinstance(e, t["sqlalchemy"]) for e in chain):
            return "network"
        if status in REJECTED_STATUS:
            return "rejected"
    return "other"


def transient(exc: BaseException) -> bool:
    """Worth another try: a locked SQLite store, a tracking server that does not answer or is overloaded."""
    return classify(exc) in ("locked", "network")


def translate(exc: BaseException, action: str, missing: type[TrackingError] = TrackingError,
              other: type[TrackingError] = TrackingError) -> TrackingError | None:
    """The TrackingError for `exc` raised while doing `action`; None when `exc` is not a tracking failure."""
    kind = classify(exc)
    if kind is None:
        return None
    why = reason(exc)
    if kind == "locked":
        return TrackingLocked(f"{action}: the store is locked by another writer ({why})")
    cls = {"network": TrackingUnavailable, "database": TrackingUnavailable, "missing": missing, "rejected": TrackingRejected}
    return cls.get(kind, other)(f"{action}: {why}")


@contextmanager
def mlflow_errors(action: str, missing: type[TrackingError] = TrackingError,
                  other: type[TrackingError] = TrackingError) -> Iterator[None]:
    """Run MLflow calls; their failures leave as TrackingError subclasses.

    `action` says what was being done ("read run abc"); `missing` is raised for "does not exist"
    (RunNotFound, ArtifactNotFound, ...), TrackingUnavailable when the store cannot be reached (TrackingLocked when
    it stays locked), TrackingRejected for a refused request, `other` for the rest. HarnessErrors raised inside
    pass unchanged.
    """
    try:
        yield
    except HarnessError:
        raise
    except Exception as exc:
        mapped = translate(exc, action, missing, other)
        if mapped is None:
            raise
        raise mapped from exc


def retried(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)`, tried again while it fails transiently; the last failure is raised as it was."""
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

    for attempt in Retrying(retry=retry_if_exception(transient), stop=stop_after_attempt(ATTEMPTS),
                            wait=wait_exponential(multiplier=WAIT_S[0], max=WAIT_S[1]), reraise=True):
        with attempt:
            return fn(*args, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover  (Retrying either returns or raises)


class RetryingClient:
    """An MlflowClient whose every call goes through `retried`: a store briefly locked or unreachable costs a wait, not
    the sweep's tracking. Attributes that are not methods pass through."""

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr
        return functools.partial(retried, attr)
