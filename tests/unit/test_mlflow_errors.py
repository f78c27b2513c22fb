"""mlflow_errors: what MLflow, its HTTP client and its database raise becomes one TrackingError subclass with one line."""

from __future__ import annotations

import pytest
import requests
import sqlalchemy.exc as sa
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST

from harness.errors import ArtifactNotFound, GateError, RunNotFound, TrackingError, TrackingUnavailable
from harness.tracking.mlflow_errors import mlflow_errors


def _raised(exc: BaseException, **kw) -> BaseException:
    with pytest.raises(BaseException) as info:
        with mlflow_errors("cannot read run abc", **kw):
            raise exc
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
    assert type(_raised(wrapped, missing=RunNotFound)) is TrackingUnavailable
    assert type(_raised(sa.OperationalError("SELECT 1", {}, Exception("unable to open database file")))) is TrackingUnavailable
    assert type(_raised(sa.DatabaseError("SELECT 1", {}, Exception("file is not a database")))) is TrackingUnavailable


def test_other_tracking_failures_and_passthrough():
    e = _raised(MlflowException("Invalid value 'x y!'", error_code=INVALID_PARAMETER_VALUE), missing=RunNotFound)
    assert type(e) is TrackingError and "\n" not in str(e)
    assert type(_raised(PermissionError("denied"))) is TrackingError
    assert len(str(_raised(MlflowException("x" * 2000)))) < 400
    assert type(_raised(KeyError("a bug"))) is KeyError  # not a tracking failure: unchanged
    assert type(_raised(GateError("ours"))) is GateError  # harness errors pass as they are
    assert type(_raised(KeyboardInterrupt())) is KeyboardInterrupt
