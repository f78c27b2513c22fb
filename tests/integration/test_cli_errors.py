"""User errors through the real CLI: one line on stderr, exit 2, never a traceback (MLflow failures, spec typos)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _harness(tmp: Path, *args: str, uri: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri or f"sqlite:///{tmp / 'mlflow.db'}", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=tmp, env=env, capture_output=True, text=True, timeout=120)


def _one_line(proc: subprocess.CompletedProcess, *expect: str) -> str:
    """The process failed with exit 2 and said why in one `harness: error:` line (MLflow's own INFO logging aside)."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and " INFO " not in ln and "Warning" not in ln and not ln.startswith("  ")]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), proc.stderr
    for e in expect:
        assert e in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def store(tmp_path):
    """A store holding experiment X with one sweep of one variant, logged as SweepLogger does."""
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    eid = c.create_experiment("X", artifact_location=(tmp_path / "artifacts").as_uri())
    sweep = c.create_run(eid, run_name="sweep", tags={"harness.kind": "sweep"}).info.run_id
    c.log_text(sweep, "name: x\ngates:\n  slo: {perf/error_rate: {max: 0.01}}\n", "spec/experiment.yaml")
    rid = c.create_run(eid, run_name="a", tags={"mlflow.parentRunId": sweep, "harness.kind": "variant", "harness.variant": "a",
                                                "harness.status": "ok"}).info.run_id
    c.log_metric(rid, "perf/error_rate", 0.0)
    c.set_terminated(rid)
    c.set_terminated(sweep)
    return tmp_path, sweep


def test_compare_bad_run_id(store):
    tmp, _ = store
    _one_line(_harness(tmp, "compare", "X", "--run", "BADID"), "BADID", "not found")


def test_gate_bad_run_id(store):
    tmp, sweep = store
    _one_line(_harness(tmp, "gate", "BADID", "--out", str(tmp / "g")), "BADID", "not found")
    assert _harness(tmp, "gate", sweep, "--out", str(tmp / "g")).returncode == 0  # the good id passes: the store is fine


def test_compare_no_such_experiment(store):
    tmp, _ = store
    _one_line(_harness(tmp, "compare", "NOSUCHEXP"), "no MLflow experiment 'NOSUCHEXP'", "'X'")


@pytest.mark.parametrize("kind,args", [("parent is a file", ["compare", "X"]), ("not a database", ["gate", "abc"]),
                                       ("unknown scheme", ["compare", "X", "--runs", "abc"]),
                                       ("server down", ["gate", "--experiment", "X"])])
def test_tracking_uri_that_cannot_be_opened(tmp_path, kind, args):
    (tmp_path / "file").write_text("x")
    (tmp_path / "garbage.db").write_text("not a database " * 100)
    uri = {"parent is a file": f"sqlite:///{tmp_path / 'file' / 'm.db'}", "not a database": f"sqlite:///{tmp_path / 'garbage.db'}",
           "unknown scheme": "bogus://nowhere", "server down": "http://127.0.0.1:9"}[kind]
    _one_line(_harness(tmp_path, *args, uri=uri), f"cannot open the MLflow store {uri}")


def test_spec_artifact_that_cannot_be_read_is_an_error_not_no_gates(store):
    tmp, sweep = store
    spec = next((tmp / "artifacts").rglob("experiment.yaml"))
    spec.unlink()
    spec.symlink_to(tmp / "nowhere.yaml")  # listed, but its content cannot be read
    line = _one_line(_harness(tmp, "gate", sweep, "--out", str(tmp / "g")), "spec/experiment.yaml")
    assert "no gates configured" not in line and sweep in line


def test_validate_misspelled_gate_metric_suggests(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: typo\ngates:\n  slo:\n    perf/ttft_p59_ms: {max: 500}\n")
    proc = _harness(tmp_path, "validate", str(spec))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "gates.slo.perf/ttft_p59_ms: unknown metric; did you mean perf/ttft_p95_ms, perf/ttft_p50_ms?" in proc.stderr
    spec.write_text("name: ok\ngates:\n  slo:\n    perf/ttft_p95_ms: {max: 500}\n")
    assert _harness(tmp_path, "validate", str(spec)).returncode == 0


def test_gates_file_with_misspelled_metric(store):
    tmp, sweep = store
    gates = tmp / "gates.yaml"
    gates.write_text("quality_floor:\n  quality/gsm8k/exact_match_flexibel: {min: 0.3}\n")
    proc = _harness(tmp, "gate", sweep, "--gates", str(gates), "--out", str(tmp / "g"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert ("gates.yaml: quality_floor.quality/gsm8k/exact_match_flexibel: unknown metric; "
            "did you mean quality/gsm8k/exact_match_flexible") in proc.stderr


def test_unwritable_output_is_one_line(store):
    tmp, sweep = store
    (tmp / "blocker").write_text("a file where a folder should be")
    _one_line(_harness(tmp, "gate", sweep, "--out", str(tmp / "blocker" / "out")), "blocker")


def test_compare_from_another_folder_does_not_create_a_store(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run([sys.executable, "-m", "harness", "compare", "local-smoke"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no such database (nothing is created by reading)" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "mlruns").exists()


def test_run_without_quality_data_offline_fails_before_launching_anything(tmp_path):
    """First-hour finding: lm-eval failed after 47 s with the cause only in its log; now one line, before any server."""
    import time

    from tests.fakes.fake_llama_server import install

    fake, model = install(tmp_path)
    spec = tmp_path / "nodata.yaml"
    spec.write_text(f"name: nodata\nserver: {{model: {model}, llamacpp: {{binary: '{fake}'}}}}\n"
                    f"load: {{users: 1, duration_s: 2, warmup_s: 0}}\ntracking: {{run_dir: '{tmp_path / 'runs'}'}}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_DATA_DIR", "NLTK_DATA")}
    env.update(HF_DATASETS_OFFLINE="1", MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}", PYTHONPATH=str(REPO))
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(spec)], cwd=tmp_path, env=env,  # no ../shared beside it
                          capture_output=True, text=True, timeout=120)
    _one_line(proc, "quality.tasks: GSM8K", "need the Hub", "HARNESS_DATA_DIR", "gsm8k/{train,test}.jsonl")
    assert time.monotonic() - t < 60 and not (tmp_path / "runs").exists()  # nothing was launched, no sweep folder made


def test_compare_without_run_passes_over_newer_sweeps_where_nothing_finished(store):
    """MLflow finding: a plain `harness compare` showed the latest sweep even when it had failed entirely."""
    import time

    from mlflow.tracking import MlflowClient

    tmp, good = store
    c = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    eid = c.get_experiment_by_name("X").experiment_id
    time.sleep(0.05)  # a later start time
    bad = c.create_run(eid, run_name="sweep-2", tags={"harness.kind": "sweep"}).info.run_id
    rid = c.create_run(eid, run_name="a", tags={"mlflow.parentRunId": bad, "harness.kind": "variant", "harness.variant": "a",
                                                "harness.status": "failed", "harness.error": "[server] port 8080 is already in use"}).info.run_id
    c.set_terminated(rid, "FAILED")
    c.set_terminated(bad, "FAILED")
    shown = _harness(tmp, "compare", "X", "--no-report")
    assert shown.returncode == 0, shown.stderr
    assert f"sweep run {good}" in shown.stdout and f"newer sweep(s) {bad} passed over: none of their variants finished" in shown.stdout
    assert f"harness compare --run {bad}" in shown.stdout
    asked = _harness(tmp, "compare", "X", "--run", bad, "--no-report")
    assert asked.returncode == 0 and f"sweep run {bad}" in asked.stdout and "failed" in asked.stdout and "passed over" not in asked.stdout
    # gates still look at the newest sweep: a sweep that failed must fail CI
    assert _harness(tmp, "gate", "--experiment", "X", "--out", str(tmp / "g")).returncode == 2
