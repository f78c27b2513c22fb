"""`harness run --resume` after a SIGTERM finishes the sweep without redoing finished variants; the resumed
quality stage reuses the variant's own lm-eval request cache."""

from __future__ import annotations

import json
import signal

import pytest

from tests.fakes.harness_run import fake_spec, leftover_processes, start_harness, wait_for

pytestmark = pytest.mark.integration


def test_resume_after_sigterm_keeps_finished_variants(tmp_path, mlflow_runs):
    variants = "  - name: quick\n  - name: slow\n  - name: last"
    load = "{users: 2, duration_s: 4, warmup_s: 0, request_timeout_s: 5}"
    spec = fake_spec(tmp_path, "resume", variants, load=load)
    # the middle variant runs long the first time: a --set makes every variant long, so give it its own override
    proc = start_harness(["run", str(spec), "--no-compare", "--set", "load.duration_s=4"], tmp_path)
    runs = tmp_path / "runs"
    try:
        wait_for(lambda: any(runs.rglob("slow/load/records.jsonl*")), 180, "the second variant's load to start")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    (folder,) = [p for p in runs.iterdir() if p.name.startswith("resume-")]
    state = json.loads((folder / "sweep_state.json").read_text())
    assert state["variants"]["quick"]["status"] == "ok" and state["variants"]["slow"]["status"] == "interrupted"
    assert state["variants"]["last"]["status"] == "pending" and not state["finished"]
    quick_run = state["variants"]["quick"]["run_id"]
    stale = state["variants"]["slow"]["run_id"]

    again = start_harness(["run", str(spec), "--no-compare", "--resume", "--set", "load.duration_s=4"], tmp_path)
    assert again.wait(timeout=300) == 0, (tmp_path / "harness.out").read_text()[-3000:]
    out = (tmp_path / "harness.out").read_text()
    assert f"resuming {folder}: keeping quick (ok)" in out
    assert [p.name for p in runs.iterdir() if p.name.startswith("resume-")] == [folder.name]  # same folder, no new sweep
    state = json.loads((folder / "sweep_state.json").read_text())
    assert state["finished"] and {v["status"] for v in state["variants"].values()} == {"ok"}
    assert state["variants"]["quick"]["run_id"] == quick_run  # not measured again
    assert (folder / ".attempts" / "slow-1" / "load").is_dir()  # the interrupted attempt's files are kept aside
    c, parents, children = mlflow_runs(tmp_path, "resume")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(children) == ["last", "quick", "slow"] and all(r.info.status == "FINISHED" for r in children.values())
    old = c.get_run(stale)
    assert old.info.status == "FAILED" and old.info.lifecycle_stage == "deleted" and old.data.tags["harness.superseded"] == "true"
    assert not leftover_processes(str(tmp_path))


def test_resume_refuses_a_changed_spec_and_a_finished_sweep(tmp_path):
    spec = fake_spec(tmp_path, "nothing", "  - name: only", load="{users: 1, duration_s: 2, warmup_s: 0, request_timeout_s: 5}")
    proc = start_harness(["run", str(spec), "--no-compare", "--resume"], tmp_path)
    assert proc.wait(timeout=120) == 2
    out = (tmp_path / "harness.out").read_text()
    assert "--resume: no unfinished sweep of 'nothing'" in out and "Traceback" not in out


def test_a_resumed_quality_stage_does_not_resend_answered_samples(fake_server, tmp_path, data_dir, monkeypatch):
    from harness.quality.runner import QualityRun
    from harness.spec.model import QualitySpec

    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    ep, state = fake_server()
    spec = QualitySpec(tasks=["gsm8k"], limit=3, num_fewshot={"gsm8k": 0}, max_gen_toks={"gsm8k": 32})
    first = QualityRun(spec, ep, tmp_path / "a" / "quality", cache_dir=tmp_path / "cache").start().finish()
    sent = state.requests
    assert sent >= 3 and first.samples["gsm8k"] == 3
    again = QualityRun(spec, ep, tmp_path / "b" / "quality", cache_dir=tmp_path / "cache")
    second = again.start().finish()
    assert state.requests == sent  # every sample came from this variant's cache
    assert second.scores["gsm8k"]["exact_match_strict"].value == first.scores["gsm8k"]["exact_match_strict"].value
    assert "Requests remaining: 0" in (tmp_path / "b" / "quality" / "lm_eval.log").read_text()
    # another endpoint model never shares it
    other = QualityRun(spec, type(ep)(**{**ep.__dict__, "model": "other-model"}), tmp_path / "c" / "quality", cache_dir=tmp_path / "cache")
    assert other.cache != again.cache and again.cache is not None



def test_resume_against_another_store_starts_its_runs_there(tmp_path):
    """The sweep's runs are in store A; `--resume` with store B ("run not found" there) starts a new sweep run and the
    variant's run in B instead of taking the sweep offline."""
    from mlflow.tracking import MlflowClient

    spec = fake_spec(tmp_path, "moved", "  - name: only", load="{users: 1, duration_s: 3, warmup_s: 0, request_timeout_s: 5}")
    first = start_harness(["run", str(spec), "--no-compare"], tmp_path, {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'a.db'}"})
    try:
        wait_for(lambda: any((tmp_path / "runs").rglob("only/load/records.jsonl*")), 180, "the load to start")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=120) == 130
    finally:
        if first.poll() is None:
            first.kill()
    (folder,) = (tmp_path / "runs").glob("moved-*")
    old_parent = json.loads((folder / "sweep_state.json").read_text())["parent_run_id"]
    b = f"sqlite:///{tmp_path / 'b.db'}"
    again = start_harness(["run", str(spec), "--no-compare", "--resume"], tmp_path, {"MLFLOW_TRACKING_URI": b})
    code = again.wait(timeout=300)
    out = (tmp_path / "harness.out").read_text()
    assert code == 0 and "MLflow unavailable" not in out and "Traceback" not in out, out[-3000:]
    assert f"the sweep run {old_parent} is not in the MLflow store {b}: a new sweep run" in out, out[-3000:]
    state = json.loads((folder / "sweep_state.json").read_text())
    assert state["finished"] and state["variants"]["only"]["logged"] and state["parent_run_id"] != old_parent
    c = MlflowClient(tracking_uri=b)
    runs = {r.data.tags["harness.kind"]: r for r in c.search_runs([c.get_experiment_by_name("moved").experiment_id])}
    assert runs["sweep"].info.run_id == state["parent_run_id"] and runs["sweep"].info.status == "FINISHED"
    assert runs["variant"].info.run_id == state["variants"]["only"]["run_id"] and runs["variant"].info.status == "FINISHED"
