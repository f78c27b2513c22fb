"""A vLLM start that fails on a transient GPU-memory cause is retried (server.startup_retries); any other failure is not.

The `vllm` here is a real executable in tmp_path: while its start count is below FAIL_STARTS it prints vLLM 0.26's own
error for a GPU whose memory a just-stopped server still holds (or an unknown flag's argparse error) and exits;
afterwards it runs the fake vLLM of tests/fakes/fake_vllm.py (a real streaming HTTP server replaying vLLM's answers).
Also: the one-server-per-GPU warning, a pure function of NVML's (GPU, pid, bytes) records."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.server import gpu_memory
from harness.server.gpu_memory import GpuHolder, shared_warning, visible_devices

REPO = Path(__file__).resolve().parents[2]
NAME = "smollm2-135m-instruct"

NO_CACHE_MEMORY = """(EngineCore_DP0 pid={pid}) ERROR 12-07 05:12:44 [core.py:866] EngineCore failed to start.
(EngineCore_DP0 pid={pid}) ERROR 12-07 05:12:44 [core.py:866] Traceback (most recent call last):
(EngineCore_DP0 pid={pid}) ERROR 12-07 05:12:44 [core.py:866]   File "/root/site/vllm/v1/core/kv_cache_utils.py", line 686, in check_enough_kv_cache_memory
(EngineCore_DP0 pid={pid}) ERROR 12-07 05:12:44 [core.py:866]     raise ValueError(
(EngineCore_DP0 pid={pid}) ERROR 12-07 05:12:44 [core.py:866] ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the engine.
(APIServer pid={pid}) RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {{}}"""
BAD_FLAG = """usage: vllm serve [model_tag] [options]
vllm serve: error: unrecognized arguments: --max-num-seq"""

FAKE = """#!{python}
import os, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
counter = Path({counter!r})
n = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(n + 1))
if n < int(os.environ["FAIL_STARTS"]):  # the fake vLLM prints this line itself when it starts
    print(f"(APIServer pid={{os.getpid()}}) INFO [utils.py:253] non-default args: {{sys.argv[2:]}}", flush=True)
    print({text!r}.format(pid=os.getpid()), flush=True)
    sys.exit({code})
from tests.fakes.fake_vllm import main
main()
"""


def _fake_vllm(tmp_path: Path, text: str, code: int) -> Path:
    exe = tmp_path / "vllm"
    exe.write_text(FAKE.format(python=sys.executable, repo=str(REPO), counter=str(tmp_path / "starts"), text=text, code=code))
    exe.chmod(0o755)
    return exe


def _run(tmp_path: Path, fixtures: Path, fail_starts: int, text: str = NO_CACHE_MEMORY, code: int = 1, retries: int = 2):
    """run_variant on the fake (no load, no quality: the start is what is tested); the outcome and the screen's lines."""
    from harness.outcome import VariantOutcome
    from harness.pipeline.presenter import Presenter
    from harness.pipeline.variant import run_variant
    from harness.spec import build_spec, resolve_variants

    (tmp_path / "model").mkdir()
    spec = build_spec({"name": "retry", "server": {
        "kind": "vllm", "model": str(tmp_path / "model"), "served_model_name": NAME, "startup_timeout_s": 30,
        "startup_retries": retries, "env": {"FAKE_VLLM_FIXTURES": str(fixtures), "FAIL_STARTS": str(fail_starts)},
        "vllm": {"executable": str(_fake_vllm(tmp_path, text, code))}},
        "load": {"users": 1, "duration_s": 2, "warmup_s": 0, "request_timeout_s": 5},
        "quality": {"enabled": False}, "metrics": {"enabled": False}}, {}, [])
    variant = resolve_variants(spec)[0]
    outcome = VariantOutcome(variant=variant, folder=tmp_path / "v")
    lines: list[str] = []
    presenter = Presenter(lines.append)
    run_variant(spec, variant, outcome, presenter)
    presenter.variant_done(1, 1, outcome, None)
    starts = int((tmp_path / "starts").read_text())
    return outcome, lines, starts, (tmp_path / "v" / "server" / "server.log").read_text()


@pytest.fixture(autouse=True)
def short_pause(monkeypatch):
    """The pause before a retry (no NVML here; on a GPU host the wait for the memory to settle) kept short."""
    monkeypatch.setattr(gpu_memory, "FIXED_PAUSE_S", 0.2)
    monkeypatch.setattr(gpu_memory, "SETTLED_S", 1.0)
    monkeypatch.setattr(gpu_memory, "FREE_WAIT_MAX_S", 2.0)


def test_a_start_failing_on_transient_gpu_memory_is_retried_and_the_variant_succeeds(tmp_path, vllm_fixtures):
    outcome, lines, starts, log = _run(tmp_path, vllm_fixtures, fail_starts=1)
    assert not outcome.failed, [f.message for f in outcome.failures]
    assert starts == 2 and outcome.server is not None and outcome.server.starts == 2
    assert outcome.load is not None and outcome.load.summary.requests > 0  # the second start really served the load
    retry = [line for line in lines if "exited during startup on a transient cause" in line]
    assert len(retry) == 1 and "start 1 of at most 3" in retry[0] and "GPU out of memory for the KV cache" in retry[0], lines
    # both starts in the server log, the harness's retry line between them
    assert log.count("non-default args") == 2 and "No available memory for the cache blocks" in log
    assert log.index("No available memory") < log.index("[harness] start 1 of at most 3") < log.index("Application startup complete")
    assert any(line.startswith("[1/1] ") and ": ok (" in line for line in lines), lines


def test_a_start_that_keeps_failing_fails_the_variant_after_the_retries_with_the_cause(tmp_path, vllm_fixtures):
    outcome, lines, starts, log = _run(tmp_path, vllm_fixtures, fail_starts=99, retries=2)
    assert starts == 3  # the first start and two retries
    (failure,) = outcome.failures
    assert failure.stage == "server" and failure.kind == "ServerExitedError"
    assert "started 3 times" in failure.message and "server.startup_retries=2" in failure.message
    assert failure.cause is not None and failure.cause.startswith("GPU out of memory for the KV cache: raise gpu_memory_utilization")
    assert sum("exited during startup on a transient cause" in line for line in lines) == 2
    assert log.count("non-default args") == 3
    assert any("FAILED: server: " in line and "started 3 times" in line and "likely cause: GPU out of memory" in line
               for line in lines), lines


def test_an_unrelated_start_failure_is_not_retried(tmp_path, vllm_fixtures):
    outcome, lines, starts, log = _run(tmp_path, vllm_fixtures, fail_starts=99, text=BAD_FLAG, code=2)
    assert starts == 1  # a bad flag fails at once
    (failure,) = outcome.failures
    assert "unknown command-line flag" in (failure.cause or "") and "started" not in failure.message
    assert not any("transient" in line for line in lines) and "[harness]" not in log


# ---------------------------------------------------------------- one server per GPU: the warning's pure decision


def test_shared_gpu_warning_names_the_pids_and_the_memory():
    assert shared_warning([]) is None
    assert shared_warning([GpuHolder(0, 4242, int(12.3 * 2**30))], own_pids=frozenset({4242})) is None
    one = shared_warning([GpuHolder(0, 4242, int(12.3 * 2**30))])
    assert one == ("another process holds 12.3 GiB on GPU 0 (pid 4242): measurements share the GPU; "
                   "vLLM's memory profiling may fail")
    two = shared_warning([GpuHolder(1, 7, 2**30), GpuHolder(1, 8, None), GpuHolder(2, 9, 3 * 2**30)])
    assert two is not None and two.startswith("2 other processes hold 1.0 GiB on GPU 1 (pid 7: 1.0 GiB, pid 8); "
                                              "another process holds 3.0 GiB on GPU 2 (pid 9)")


def test_visible_devices_reads_cuda_visible_devices():
    assert visible_devices({}) is None
    assert visible_devices({"CUDA_VISIBLE_DEVICES": "1,3"}) == [1, 3]
    assert visible_devices({"CUDA_VISIBLE_DEVICES": "GPU-5f3e"}) == ["GPU-5f3e"]
    assert visible_devices({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_devices({"CUDA_VISIBLE_DEVICES": "MIG-1/2/3"}) is None  # not asked of NVML by name here: every GPU


def test_without_nvml_or_a_gpu_there_is_nothing_to_report():
    from harness.server.gpu import GpuUnavailable, NvmlReader

    try:
        NvmlReader().close()
    except GpuUnavailable:
        assert gpu_memory.other_holders({}) is None and gpu_memory.other_holders({"CUDA_VISIBLE_DEVICES": "0"}) is None
        assert gpu_memory.wait_memory_freed({}, sleep=lambda s: None).startswith("paused")
        return
    pytest.skip("an NVIDIA GPU is visible here: the no-GPU path is not what this host exercises")
