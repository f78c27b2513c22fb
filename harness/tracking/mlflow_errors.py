"""One mapping from what MLflow raises to the harness's TrackingError tree.

Modelled on httpx's `map_httpcore_exceptions`: every MLflow call of the harness runs inside
`with mlflow_errors(action):`, and the MLflow, database, HTTP and file errors raised in the
block leave it as one TrackingError subclass with a one-line message. Anything else (a bug)
passes through unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from harness.errors import HarnessError, TrackingError, TrackingUnavailable

MAX_REASON = 300


@functools.cache
def _types() -> dict[str, tuple[type[BaseException], ...]]:
    """Exception classes by role, imported on first use (mlflow, requests and sqlalchemy are heavy)."""
    import requests
    import sqlalchemy.exc as sa
    from mlflow.exceptions import MlflowException

    return {
        "known": (MlflowException, requests.RequestException, sa.SQLAlchemyError, OSError),
        "mlflow": (MlflowException,),
        "unreachable": (requests.ConnectionError, requests.Timeout, sa.OperationalError, sa.InterfaceError, ConnectionError),
        "bad_database": (sa.DatabaseError,),
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


def translate(exc: BaseException, action: str, missing: type[TrackingError] = TrackingError,
              other: type[TrackingError] = TrackingError) -> TrackingError | None:
    """The TrackingError for `exc` raised while doing `action`; None when `exc` is not a tracking failure."""
    t = _types()
    chain = list(_chain(exc))
    if not any(isinstance(e, t["known"]) for e in chain):
        return None
    why = reason(exc)
    if any(isinstance(e, t["unreachable"]) or type(e) in t["bad_database"] for e in chain):
        return TrackingUnavailable(f"{action}: {why}")
    if isinstance(exc, t["mlflow"]) and getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
        return missing(f"{action}: {why}")
    return other(f"{action}: {why}")


@contextmanager
def mlflow_errors(action: str, missing: type[TrackingError] = TrackingError,
                  other: type[TrackingError] = TrackingError) -> Iterator[None]:
    """Run MLflow calls; their failures leave as TrackingError subclasses.

    `action` says what was being done ("read run abc"); `missing` is raised for "does not exist"
    (RunNotFound, ArtifactNotFound, ...), TrackingUnavailable when the store cannot be reached,
    `other` for the rest. HarnessErrors raised inside pass unchanged.
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
