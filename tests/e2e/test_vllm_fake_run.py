"""`harness run` with `server.kind: vllm` against the fake `vllm` (replayed vLLM 0.26.0 answers and /metrics):
a variant that dies mid-run, one that runs out of memory at start, one that works; then `harness compare`."""

from __future__ import annotations

import pytest

from tests.e2e.test_run_smoke import _artifact_paths, _harness, _runs
from tests.integration.test_fake_vllm import NAME, fake_vllm_executable

pytestmark = pytest.mark.e2e


def test_vllm_sweep_with_faults_moves_on_and_reports_server_metrics(tmp_path, vllm_fixtures):
    exe = fake_vllm_executable(tmp_path)
    (tmp_path / "model").mkdir()
    spec = tmp_path / "fv.yaml"
    spec.write_text(
        f"""
name: fake-vllm
server:
  kind: vllm
  model: {tmp_path / 'model'}
  served_model_name: {NAME}
  startup_timeout_s: 30
  api_key_env: FV_KEY
  env: {{FAKE_VLLM_FIXTURES: "{vllm_fixtures}"}}
  vllm: {{executable: "{exe}", max_num_seqs: 64, dtype: bfloat16}}
variants:
  - name: dies
    server: {{env: {{FAKE_VLLM_FIXTURES: "{vllm_fixtures}", FAKE_VLLM_DIE_AFTER: "4"}}}}
  - name: oom-at-start
    server: {{env: {{FAKE_VLLM_FIXTURES: "{vllm_fixtures}", FAKE_VLLM_MODE: oom}}}}
  - name: seqs8
    server: {{vllm: {{max_num_seqs: 8}}}}
load: {{users: 2, duration_s: 6, warmup_s: 0, request_timeout_s: 5}}
quality: {{enabled: false}}
metrics: {{interval_s: 1}}
tracking: {{run_dir: "{tmp_path / 'runs'}"}}
"""
    )
    proc = _harness(["run", str(spec), "--no-compare"], tmp_path, {"FV_KEY": "sk-fv-secret-777", "VLLM_USE_FLASHINFER_SAMPLER": "0", "VLLM_FAKE_TOKEN": "tok-never-logged"}, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "2 variant(s) failed: dies, oom-at-start" in proc.stderr
    c, parents, children = _runs(tmp_path, "fake-vllm")
    by = {r.data.tags["harness.variant"]: r for r in children}
    assert {k: r.info.status for k, r in by.items()} == {"dies": "FAILED", "oom-at-start": "FAILED", "seqs8": "FINISHED"}

    died = by["dies"].data
    assert "server died" in died.tags["harness.error"] and "CUDA out of memory" in died.tags["harness.error"]
    assert "likely cause: GPU/CPU out of memory" in died.tags["harness.error"]
    assert died.metrics.get("perf/requests", 0) > 0  # measured before the crash: kept
    oom = by["oom-at-start"].data.tags["harness.error"]
    assert "before it was ready" in oom and "likely cause: GPU/CPU out of memory" in oom

    ok = by["seqs8"].data
    # reproducible from MLflow alone: the exact argv and the environment's names
    assert "--max-num-seqs 8" in ok.params["server.argv"] and f"--served-model-name {NAME}" in ok.params["server.argv"]
    assert "VLLM_API_KEY" in ok.params["server.env_names"] and ok.params["server.vllm.max_num_seqs"] == "8"
    assert ok.params["server.info.server_version"] == "0.26.0"
    assert ok.params["server.env_inherited.VLLM_USE_FLASHINFER_SAMPLER"] == "0"
    assert not any("VLLM_FAKE_TOKEN" in k or "tok-never-logged" in v for k, v in ok.params.items())
    # vLLM's names mapped: the replayed seqs8 capture has ~3.3 s mean queue time over 801 requests
    m = ok.metrics
    assert m["server/queue_time_s_count"] == 801 and m["server/queue_time_s_p50"] > 1.0
    assert m["server/ttft_s_p50"] > 0 and m["perf/ttft_p50_ms"] > 0 and m["server/prompt_tokens"] > 0
    assert "server/prefix_cache_hit_rate" in m and "server/kv_cache_usage_max" in m
    for run in children:  # the key never reaches params, tags or the server log artifact
        blob = " ".join(list(run.data.params.values()) + list(run.data.tags.values()))
        assert "sk-fv-secret-777" not in blob
    assert "server/server.log" in _artifact_paths(c, by["seqs8"].info.run_id)

    cmp = _harness(["compare", "fake-vllm", "-v"], tmp_path)  # -v: every column (the default screen is 120 wide)
    assert cmp.returncode == 0, cmp.stderr
    assert "server TTFT p50 s" in cmp.stdout and "queue p50 s" in cmp.stdout and "TTFT p50 ms" in cmp.stdout
