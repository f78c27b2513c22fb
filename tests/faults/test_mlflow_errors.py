"""MLflow errors by kind against a real SQLite store: a request the store refuses fails that run only (the sweep keeps
logging), and a store locked by another writer is waited for, not taken for a dead one."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

LOCKER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("ROLLBACK")
"""


def _session(tmp: Path, variants: list[str]):
    from harness.spec.loader import resolve_variants
    from harness.spec.model import ExperimentSpec
    from harness.tracking.session import TrackingSession

    spec = ExperimentSpec(name="kinds", variants=[{"name": n} for n in variants],
                          tracking={"uri": f"sqlite:///{tmp / 'mlflow.db'}", "run_dir": str(tmp / "runs")})
    said: list[str] = []
    resolved = resolve_variants(spec)
    session = TrackingSession(spec, resolved, said.append)
    assert session.offline is None, said
    return session, {v.name: v for v in resolved}, said


def _outcome(tmp: Path, variant):
    from harness.outcome import VariantOutcome

    return VariantOutcome(variant=variant, folder=tmp / "runs" / variant.name)


def test_a_refused_request_fails_only_that_run(tmp_path):
    session, variants, said = _session(tmp_path, ["refused", "fine"])
    session.start_sweep(tmp_path / "runs")
    refused, fine = session.start_variant(variants["refused"]), session.start_variant(variants["fine"])
    # MLflow refuses to change a logged param: a real 400 (INVALID_PARAMETER_VALUE) from the store
    session.logger.client.log_param(refused, "load.users", "999")
    assert session.finish_variant(refused, _outcome(tmp_path, variants["refused"])) is False
    assert session.offline is None, said  # not read as "MLflow unavailable": the rest of the sweep still logs
    assert any("MLflow refused a request" in s and "Changing param values is not allowed" in s for s in said), said
    assert session.finish_variant(fine, _outcome(tmp_path, variants["fine"])) is True
    session.end_sweep(failed=True)
    c = session.logger.client
    bad, good = c.get_run(refused), c.get_run(fine)
    assert bad.info.status == "FAILED" and "Changing param values" in bad.data.tags["harness.error"]
    assert good.info.status == "FINISHED" and good.data.tags["harness.status"] == "ok"
    assert (tmp_path / "runs" / "refused" / "results.json").is_file()  # its results stay for the record


def test_a_store_locked_past_sqlites_own_wait_is_retried_not_taken_offline(tmp_path):
    """SQLite itself waits 20 s for a lock (MLflow's busy_timeout); a writer that holds it longer makes the call fail
    "database is locked", and the harness tries again instead of taking the sweep offline."""
    session, variants, said = _session(tmp_path, ["only"])
    session.start_sweep(tmp_path / "runs")
    holder = subprocess.Popen([sys.executable, "-c", LOCKER, str(tmp_path / "mlflow.db"), "23"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t = time.monotonic()
        run_id = session.start_variant(variants["only"])
        waited = time.monotonic() - t
    finally:
        holder.kill()
        holder.wait(30)
    assert run_id is not None and session.offline is None, said
    assert waited > 20  # past SQLite's own wait: the first try failed "database is locked" and a later one succeeded
    assert session.finish_variant(run_id, _outcome(tmp_path, variants["only"])) is True
    assert session.logger.client.get_run(run_id).info.status == "FINISHED"
