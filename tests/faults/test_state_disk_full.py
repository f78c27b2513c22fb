"""The sweep's own state file cannot be written (a full disk): the variant being recorded fails with one line, its
MLflow run and the sweep's are closed FAILED (never left RUNNING), no `sweep_state.tmp` is left, and the sweep goes on."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.fakes.harness_run import fake_spec, leftover_processes, start_harness, wait_for

pytestmark = pytest.mark.integration

LOAD = "{users: 1, duration_s: 2, warmup_s: 0, request_timeout_s: 5}"
FULL = "sweep_state.json: No space left on device (ENOSPC)"


def _runs(tmp, experiment: str) -> tuple[list, dict]:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    runs = c.search_runs([c.get_experiment_by_name(experiment).experiment_id])
    sweeps = [r for r in runs if r.data.tags.get("harness.kind") == "sweep"]
    return sweeps, {r.data.tags.get("harness.variant"): r for r in runs if r.data.tags.get("harness.kind") == "variant"}


def test_a_state_file_that_cannot_be_written_fails_that_variant_and_the_sweep_goes_on(tmp_path):
    """The state's temporary file points at /dev/full (every write: ENOSPC) while the first variant measures."""
    spec = fake_spec(tmp_path, "state-full", "  - name: first\n  - name: second", load=LOAD)
    proc = start_harness(["run", str(spec), "--no-compare"], tmp_path)
    runs = tmp_path / "runs"
    try:
        wait_for(lambda: any(runs.glob("state-full-*/first/load/records.jsonl*")), 180, "the first variant's load to start")
        (folder,) = runs.glob("state-full-*")
        os.symlink("/dev/full", folder / "sweep_state.tmp")
        code = proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = (tmp_path / "harness.out").read_text()
    assert code == 2 and "Traceback" not in out, out[-3000:]
    failed = [line for line in out.splitlines() if FULL in line]
    assert len(failed) == 1 and failed[0].startswith("[1/2] first: FAILED: harness: cannot write "), out[-3000:]
    assert "[2/2] second: ok" in out, out[-3000:]
    assert not (folder / "sweep_state.tmp").exists() and not (folder / "sweep_state.tmp").is_symlink()
    state = json.loads((folder / "sweep_state.json").read_text())
    assert state["variants"]["first"]["status"] == "interrupted"  # a --resume measures it again
    assert state["variants"]["second"]["status"] == "ok" and not state["finished"]
    sweeps, variants = _runs(tmp_path, "state-full")
    assert [r.info.status for r in sweeps] == ["FAILED"]
    assert variants["first"].info.status == "FAILED" and FULL in variants["first"].data.tags["harness.error"]
    assert variants["second"].info.status == "FINISHED"
    assert not leftover_processes(str(tmp_path))


def test_a_full_disk_under_the_run_folder_leaves_no_run_running(tmp_path):
    """A real full filesystem: the run folder on a 1 MiB tmpfs, filled to the last byte while the load runs."""
    disk = tmp_path / "small"
    disk.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mount.stderr.strip()}); needs root in a sandbox that allows mounts")
    try:
        spec = fake_spec(tmp_path, "disk-full", "  - name: only", load=LOAD)
        spec.write_text(spec.read_text().replace(str(tmp_path / "runs"), str(disk / "runs")))
        proc = start_harness(["run", str(spec), "--no-compare"], tmp_path)
        try:
            wait_for(lambda: any(disk.glob("runs/disk-full-*/only/load/records.jsonl*")), 180, "the load to start")
            with (disk / "filler").open("wb") as f:  # every block of the disk
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            code = proc.wait(timeout=240)
        finally:
            if proc.poll() is None:
                proc.kill()
        (folder,) = disk.glob("runs/disk-full-*")
        leftovers = sorted(p.name for p in folder.glob("*.tmp"))
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    out = (tmp_path / "harness.out").read_text()
    assert code == 2 and "Traceback" not in out, out[-3000:]
    line = next((line for line in out.splitlines() if line.startswith("[1/1] only: FAILED")), "")
    assert FULL in line, out[-3000:]
    assert leftovers == []
    sweeps, variants = _runs(tmp_path, "disk-full")
    assert [r.info.status for r in sweeps] == ["FAILED"] and variants["only"].info.status == "FAILED"
    assert FULL in variants["only"].data.tags["harness.error"]
