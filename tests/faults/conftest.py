"""Fault tests: a real `harness run` against misbehaving real servers, stopped by real signals.

The builders (`fake_spec`, `start_harness`, `wait_for`, `leftover_processes`) live in tests/fakes/harness_run.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import fake_server  # noqa: F401  (a real streaming HTTP server, faults on demand)


@pytest.fixture()
def mlflow_runs():
    def read(tmp: Path, experiment: str):
        from mlflow.tracking import MlflowClient

        c = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
        exp = c.get_experiment_by_name(experiment)
        runs = c.search_runs([exp.experiment_id]) if exp else []
        parents = [r for r in runs if r.data.tags.get("harness.kind") == "sweep"]
        children = {r.data.tags.get("harness.variant"): r for r in runs if r.data.tags.get("harness.kind") == "variant"}
        return c, parents, children

    return read
