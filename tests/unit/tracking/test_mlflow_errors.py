"""mlflow_errors: what MLflow, its HTTP client and its database raise becomes one TrackingError subclass with one line,
classified (unavailable, locked, missing, rejected) so that only transient failures are tried again."""

from __future__ import annotations

import sqlite3

import pytest
import requests
import sqlalchemy
import sqlalchemy.exc as sa
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    BAD_REQUEST, INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, TEMPORARILY_UNAVAILABLE,
)

from harness.errors import (
    ArtifactNotFound, GateError, RunNotFound, TrackingError, TrackingLocked, TrackingRejected, TrackingUnavailable,
)
from harness.tracking.mlflow_errors import mlflow_errors, retried, transient


def _raised(exc: BaseException, **kw) -> BaseException:
    with pytest.raises(BaseException) as info:
        with mlflow_errors("cannot read run abc", **kw):
            raise exc
    return info.value


def _as_mlflow_raises(exc: sa.SQLAlchemyError) -> MlflowException:
    """What MLflow's managed SQLite session raises for a database error (mlflow.store.db.utils)."""
    try:
        raise MlflowException(message=exc, error_code=TEMPORARILY_UNAVAILABLE) from exc
    except MlflowException as wrapped:
        return wrapped


def _sqlite_error(tmp_path, sql: str, **connect) -> sa.OperationalError:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}", connect_args=connect)
    with pytest.raises(sa.OperationalError) as info, engine.connect() as conn:
        conn.execute(sqlalchemy.text(sql))
    engine.dispose()
    return info.value


def test_not_found_is_the_callers_missing_class():
    e = _raised(MlflowException("Run with id=abc not found\nmore detail", error_code=RESOURCE_DOES_NOT_EXIST), missing=RunNotFound)
    assert type(e) is RunNotFound and str(e) == "cannot read run abc: Run with id=abc not found"
    e = _raised(MlflowException("Failed to download artifacts", error_code=RESOURCE_DOES_NOT_EXIST), missing=ArtifactNotFound)
    assert type(e) is ArtifactNotFound


def test_unreachable_stores_are_unavailable():
    try:
        raise requests.ConnectionError("Max retries exceeded")
    except requests.ConnectionError as cause:
        wrapped = MlflowException(f"API request failed with exception {cause}")
        wrapped.__cause__ = cause
    assert type(_raised(wrapped, missing=RunNotFound)) is TrackingUnavailable and transient(wrapped)
    overloaded = MlflowException("API request failed with error code 503 != 200", error_code=TEMPORARILY_UNAVAILABLE)
    assert type(_raised(overloaded)) is TrackingUnavailable and transient(overloaded)
    cannot_open = sa.OperationalError("SELECT 1", {}, Exception("unable to open database file"))
    assert type(_raised(cannot_open)) is TrackingUnavailable and not transient(cannot_open)
    not_a_db = sa.DatabaseError("SELECT 1", {}, Exception("file is not a database"))
    assert type(_raised(not_a_db)) is TrackingUnavailable and not transient(not_a_db)


def test_a_locked_sqlite_store_is_locked_and_transient(tmp_path):
    """A real lock: another connection holds BEGIN EXCLUSIVE; ours gives up at once (timeout 0)."""
    holder = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        locked = _as_mlflow_raises(_sqlite_error(tmp_path, "SELECT * FROM t", timeout=0))
    finally:
        holder.execute("ROLLBACK")
    e = _raised(locked)
    assert type(e) is TrackingLocked and isinstance(e, TrackingUnavailable) and "locked by another writer" in str(e)
    assert transient(locked)


def test_a_read_only_sqlite_store_is_unavailable_and_not_retried(tmp_path):
    sqlite3.connect(tmp_path / "db.sqlite").execute("CREATE TABLE t (x)").connection.commit()
    engine = sqlalchemy.create_engine(f"sqlite:///file:{tmp_path / 'db.sqlite'}?mode=ro&uri=true")
    with pytest.raises(sa.OperationalError) as info, engine.connect() as conn:
        conn.execute(sqlalchemy.text("INSERT INTO t VALUES (1)"))
    read_only = _as_mlflow_raises(info.value)
    e = _raised(read_only)
    assert type(e) is TrackingUnavailable and "readonly database" in str(e) and not transient(read_only)


def test_refused_requests_are_rejected_not_unavailable():
    for code in (INVALID_PARAMETER_VALUE, BAD_REQUEST):
        exc = MlflowException("Changing param values is not allowed. Param with key='load.users' was already logged", error_code=code)
        e = _raised(exc, missing=RunNotFound)
        assert type(e) is TrackingRejected and "\n" not in str(e) and not transient(exc)


def test_other_tracking_failures_and_passthrough():
    assert type(_raised(PermissionError("denied"))) is TrackingError
    assert len(str(_raised(MlflowException("x" * 2000)))) < 400
    assert type(_raised(KeyError("a bug"))) is KeyError  # not a tracking failure: unchanged
    assert type(_raised(GateError("ours"))) is GateError  # harness errors pass as they are
    assert type(_raised(KeyboardInterrupt())) is KeyboardInterrupt


def test_transient_failures_are_tried_again_and_others_are_not():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise requests.ConnectionError("connection refused")
        return "ok"

    assert retried(flaky) == "ok" and len(calls) == 2
    refused = []

    def bad():
        refused.append(1)
        raise MlflowException("Invalid value", error_code=INVALID_PARAMETER_VALUE)

    with pytest.raises(MlflowException):
        retried(bad)
    assert len(refused) == 1


def test_experiment_names_keep_to_mlflows_limit(tmp_path, capsys):
    from mlflow.utils.validation import MAX_EXPERIMENT_NAME_LENGTH

    from harness.cli import main
    from harness.spec.model import MLFLOW_MAX_EXPERIMENT_NAME

    assert MLFLOW_MAX_EXPERIMENT_NAME == MAX_EXPERIMENT_NAME_LENGTH  # the spec's copy of MLflow's limit
    spec = tmp_path / "long.yaml"
    spec.write_text(f"name: long\ntracking: {{experiment: {'e' * 501}}}\n")
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "tracking.experiment" in err and "501 characters, over MLflow's limit of 500" in err and "shorten it" in err
    spec.write_text(f"name: long\ntracking: {{experiment: {'e' * 500}}}\n")
    assert main(["validate", str(spec)]) == 0
