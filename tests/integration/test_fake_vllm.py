"""Launch, readiness and faults of `server.kind: vllm`, against a fake `vllm` executable.

The fake (tests/fakes/fake_vllm.py) is a real HTTP server replaying vLLM 0.26.0's captured answers
and /metrics, and it rejects flags that `vllm serve --help=all` does not list.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.errors import ServerExitedError
from harness.server.launch import serve
from harness.spec import build_spec, resolve_variants

REPO = Path(__file__).resolve().parents[2]
NAME = "smollm2-135m-instruct"


def fake_vllm_executable(folder: Path) -> Path:
    exe = folder / "vllm"
    exe.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(REPO)!r})\nfrom tests.fakes.fake_vllm import main\nmain()\n")
    exe.chmod(0o755)
    return exe


def _variant(tmp_path: Path, fixtures: Path, env: dict[str, str] | None = None, **server):
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    spec = build_spec({"name": "fv", "server": {
        "kind": "vllm", "model": str(model), "served_model_name": NAME, "startup_timeout_s": 30,
        "env": {"FAKE_VLLM_FIXTURES": str(fixtures), **(env or {})},
        "vllm": {"executable": str(fake_vllm_executable(tmp_path)), "max_num_seqs": 8, "kv_cache_dtype": "fp8",
                 "enable_prefix_caching": False, "gpu_memory_utilization": 0.8},
        **server,
    }}, {}, [])
    return resolve_variants(spec)[0]


def test_launch_ready_and_key_passed_by_environment(tmp_path, vllm_fixtures, monkeypatch):
    monkeypatch.setenv("FV_KEY", "sk-fake-vllm-key-42")
    variant = _variant(tmp_path, vllm_fixtures, api_key_env="FV_KEY")
    with serve(variant, tmp_path / "server") as running:
        assert running.alive() and running.endpoint.info.get("server_version") == "0.26.0"
        assert running.argv[1:3] == ["serve", str(tmp_path / "model")]
        assert "--max-num-seqs" in running.argv and "--no-enable-prefix-caching" in running.argv
        assert "sk-fake-vllm-key-42" not in " ".join(running.argv) and "VLLM_API_KEY" in running.env_names
        url = running.endpoint.base_url + "/v1/chat/completions"
        body = {"model": NAME, "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(url, json=body).status_code == 401  # the server got the key through its environment
        ok = httpx.post(url, json=body, headers=running.endpoint.headers())
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "The capital of France is Paris."
        pid = running.process.pid
    assert running.process.poll() is not None, f"fake vllm {pid} still running after the block"


def test_crash_on_start_reports_oom_without_waiting_for_the_deadline(tmp_path, vllm_fixtures):
    variant = _variant(tmp_path, vllm_fixtures, env={"FAKE_VLLM_MODE": "oom"})
    started = time.monotonic()
    with pytest.raises(ServerExitedError) as err:
        with serve(variant, tmp_path / "server"):
            pass
    assert time.monotonic() - started < 20  # raced against the process, not the 30 s deadline
    assert err.value.returncode == 1
    assert "out of memory" in (err.value.cause or "")
    assert "CUDA out of memory" in err.value.log_tail and "before it was ready" in str(err.value)


def test_unknown_flag_is_diagnosed(tmp_path, vllm_fixtures):
    variant = _variant(tmp_path, vllm_fixtures, extra_args=["--max-num-seq", "8"])
    with pytest.raises(ServerExitedError) as err:
        with serve(variant, tmp_path / "server"):
            pass
    assert err.value.returncode == 2
    assert "unknown command-line flag" in (err.value.cause or "") and "--max-num-seq" in err.value.log_tail
