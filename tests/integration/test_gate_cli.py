"""`harness gate` through the real CLI on a real MLflow store: exit codes 0 / 1 / 2 and the files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _store(tmp: Path, experiment: str, variants: dict[str, tuple[str, dict[str, float]]], spec_yaml: str, tags: dict[str, str] | None = None) -> str:
    """A sweep logged the way SweepLogger logs one: parent run + tagged child runs."""
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    exp = c.get_experiment_by_name(experiment)
    eid = exp.experiment_id if exp else c.create_experiment(experiment, artifact_location=(tmp / "artifacts").as_uri())
    parent = c.create_run(eid, run_name="sweep", tags={"harness.kind": "sweep", **(tags or {})}).info.run_id
    c.log_text(parent, spec_yaml, "spec/experiment.yaml")
    for name, (status, metrics) in variants.items():
        rid = c.create_run(eid, run_name=name, tags={"mlflow.parentRunId": parent, "harness.kind": "variant",
                                                     "harness.variant": name, "harness.status": status}).info.run_id
        for k, v in metrics.items():
            c.log_metric(rid, k, v)
        if status == "failed":
            c.set_tag(rid, "harness.error", "the server died during the measurement")
        c.set_terminated(rid, "FAILED" if status == "failed" else "FINISHED")
    c.set_terminated(parent, "FINISHED")
    return parent


def _gate(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run([sys.executable, "-m", "harness", "gate", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


SPEC = """
name: g
gates:
  slo:
    perf/ttft_p95_ms: {max: 500}
    perf/error_rate: {max: 0.01}
  quality_floor:
    quality/gsm8k/exact_match_flexible: {min: 0.3}
"""
GOOD = {"perf/ttft_p95_ms": 120.0, "perf/error_rate": 0.0, "quality/gsm8k/exact_match_flexible": 0.5}


@pytest.fixture()
def store(tmp_path):
    return tmp_path


def test_gate_pass_exit_0_logs_artifacts(store):
    sweep = _store(store, "g", {"a": ("ok", GOOD), "b": ("ok", GOOD)}, SPEC)
    proc = _gate(store, sweep, "--out", str(store / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((store / "out" / "gate.json").read_text())
    assert data["verdict"] == "pass" and data["counts"]["pass"] == 8
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    assert sorted(f.path for f in c.list_artifacts(sweep, "gate")) == ["gate/gate.json", "gate/gate.md", "gate/junit.xml"]
    assert c.get_run(sweep).data.tags["harness.gate"] == "pass"


def test_gate_fail_exit_1_junit_names_the_gate(store):
    sweep = _store(store, "g", {"a": ("ok", GOOD), "slow": ("ok", {**GOOD, "perf/ttft_p95_ms": 800.0})}, SPEC)
    summary = store / "step-summary.md"
    env_proc = subprocess.run(
        [sys.executable, "-m", "harness", "gate", "--experiment", "g", "--out", str(store / "out"), "--no-log"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}", "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert env_proc.returncode == 1, env_proc.stdout + env_proc.stderr
    root = ET.parse(store / "out" / "junit.xml").getroot()
    failed = [(tc.get("classname"), tc.get("name")) for tc in root.iter("testcase") if tc.find("failure") is not None]
    assert failed == [("harness.gates.slow", "slo: perf/ttft_p95_ms <= 500")]
    assert "FAIL  [slow] slo: perf/ttft_p95_ms <= 500" in env_proc.stdout
    assert "slo: perf/ttft_p95_ms <= 500" in summary.read_text()
    assert sweep


def test_gate_failed_run_exit_2(store):
    sweep = _store(store, "g", {"dies": ("failed", {"perf/error_rate": 1.0}), "ok": ("ok", GOOD)}, SPEC)
    proc = _gate(store, sweep, "--out", str(store / "out"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    root = ET.parse(store / "out" / "junit.xml").getroot()
    errors = [tc.get("classname") + ":" + tc.get("name") for tc in root.iter("testcase") if tc.find("error") is not None]
    assert "harness.gates.dies:run finished" in errors


def test_gates_file_and_relative_baseline_by_tag(store):
    base = _store(store, "g", {"a": ("ok", GOOD)}, "name: g\n", tags={"harness.baseline": "true"})
    cand = _store(store, "g", {"a": ("ok", {**GOOD, "quality/gsm8k/exact_match_flexible": 0.45})}, "name: g\n")
    gates = store / "gates.yaml"
    gates.write_text("relative:\n  quality/gsm8k/exact_match_flexible: {min_ratio: 0.99}\nbaseline: {tag: harness.baseline=true}\n")
    proc = _gate(store, cand, "--gates", str(gates), "--out", str(store / "out"), "--no-log")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    check = [c for c in json.loads((store / "out" / "gate.json").read_text())["checks"] if c["kind"] == "relative"][0]
    assert check["baseline_value"] == 0.5 and check["baseline_run_id"] != check["run_id"] and check["status"] == "fail"
    assert base
    # a baseline that does not exist is an error, not a pass
    gates.write_text("relative:\n  quality/gsm8k/exact_match_flexible: {min_ratio: 0.99}\nbaseline: {tag: harness.baseline=nope}\n")
    proc = _gate(store, cand, "--gates", str(gates), "--out", str(store / "out"), "--no-log")
    assert proc.returncode == 1 and "baseline not found" in proc.stdout


def test_no_gates_configured_is_a_usage_error(store):
    sweep = _store(store, "g", {"a": ("ok", GOOD)}, "name: g\n")
    proc = _gate(store, sweep, "--out", str(store / "out"))
    assert proc.returncode == 2 and "no gates configured" in proc.stderr


def test_gate_with_repeats_significance_and_ci_bound(store):
    """A 6% rise within the noise fails a non-inferiority rule (`significant: true`: its interval's high end does not
    clear <= 1.0 x baseline) and passes a looser one it clears; an SLO on ci_high fails; JUnit and gate.md show the
    interval and the outcome (variant and repeat runs logged as the repeats contract says)."""
    import numpy as np

    from tests.integration.test_repeats_reader import _log_sweep
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    eid = c.create_experiment("rg", artifact_location=(store / "artifacts").as_uri())
    rng = np.random.default_rng(9)
    shared = np.exp(rng.normal(0, 0.12, 8))
    base = list(200.0 * shared * np.exp(rng.normal(0, 0.1, 8)))
    cand = list(212.0 * shared * np.exp(rng.normal(0, 0.1, 8)))
    sweep, _ = _log_sweep(c, eid, {"base": {"perf/ttft_p95_ms": base}, "cand": {"perf/ttft_p95_ms": cand}})
    gates = store / "gates.yaml"
    gates.write_text("relative:\n  perf/ttft_p95_ms: {max_ratio: 1.0, significant: true}\nbaseline: {variant: base}\n")
    proc = _gate(store, sweep, "--gates", str(gates), "--out", str(store / "out"), "--no-log")
    assert proc.returncode == 1 and "does not clear the threshold" in proc.stdout + (store / "out" / "gate.md").read_text(), proc.stdout + proc.stderr
    check = [c for c in json.loads((store / "out" / "gate.json").read_text())["checks"] if c["kind"] == "relative" and c["variant"] == "cand"][0]
    assert check["verdict"] == "inconclusive" and check["ratio_low"] < 1 < check["ratio_high"] and check["ci_low"] is not None
    gates.write_text("relative:\n  perf/ttft_p95_ms: {max_ratio: 1.5, significant: true}\nbaseline: {variant: base}\n")
    proc = _gate(store, sweep, "--gates", str(gates), "--out", str(store / "out"), "--no-log")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    gates.write_text("slo:\n  perf/ttft_p95_ms: {max: 240, on: ci_high}\n")
    proc = _gate(store, sweep, "--gates", str(gates), "--out", str(store / "out"), "--no-log")
    assert proc.returncode == 1 and "FAIL  [cand] slo: perf/ttft_p95_ms ci_high <= 240" in proc.stdout, proc.stdout + proc.stderr
    root = ET.parse(store / "out" / "junit.xml").getroot()
    props = {p.get("name") for p in root.iter("property")}
    assert {"ci_low", "ci_high", "checked"} <= props
    assert "(ci_high)" in (store / "out" / "gate.md").read_text()
