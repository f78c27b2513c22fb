"""The GPU sampler stage: skipped with a reason where there is no GPU; its thread, raw file and window arithmetic on
readings injected through its `read` seam (the machine running the tests has no GPU)."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from harness.server.gpu import NOT_INSTALLED, GpuReading, GpuSample, GpuSampler, read_samples, summarize, trapezoid


class FakeClock:
    """Time that moves only when a GPU is read: each read is `step_s` after the last (the sampler's thread is real)."""

    def __init__(self, start: float = 1000.0, step_s: float = 0.5):
        self.now, self.step_s, self.lock = start, step_s, threading.Lock()

    def __call__(self) -> float:
        return self.now

    def tick(self) -> float:
        with self.lock:
            self.now += self.step_s
            return self.now


def _series(powers: list[float], t0: float = 0.0, step: float = 1.0, energy: bool = False) -> list[GpuSample]:
    """One GPU: a sample a `step` apart with the given powers (and, optionally, the counter they integrate to)."""
    out, e = [], 0.0
    for i, p in enumerate(powers):
        if i:
            e += step * (powers[i - 1] + p) / 2
        out.append(GpuSample(t0 + i * step, (GpuReading(0, "NVIDIA H200", p, 50.0 + i, 10.0 + i, 1980.0, e if energy else None),)))
    return out


def test_without_nvidia_ml_py_the_stage_is_skipped_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError, as where it is not installed
    stage = GpuSampler(tmp_path / "gpu.jsonl").start()
    assert stage.skipped == NOT_INSTALLED == "nvidia-ml-py not installed: pip install '.[gpu]'"
    assert not stage.running() and "skipped: nvidia-ml-py not installed" in str(stage.progress())
    stage.stop()
    result = stage.finish((0.0, 1.0))
    assert result.skipped == NOT_INSTALLED and result.failures == [] and result.flat_metrics() == {}
    assert result.output_tokens_per_joule(100) is None and result.history() == {} and not (tmp_path / "gpu.jsonl").exists()


def test_without_a_gpu_nvml_s_own_reason_is_the_skip_reason(tmp_path):
    pynvml = pytest.importorskip("pynvml", reason="nvidia-ml-py not installed (pip install '.[gpu]')")
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA GPU: nothing to skip")
    except pynvml.NVMLError:
        pass
    stage = GpuSampler(tmp_path / "gpu.jsonl").start()
    assert stage.skipped.startswith("no NVIDIA GPU (NVML: ") and stage.finish().failures == []


def test_the_sampler_s_thread_samples_writes_raw_first_and_integrates_the_counter(tmp_path):
    clock = FakeClock()
    t0 = clock.now
    reads = []

    def read() -> list[GpuReading]:
        t = clock.tick()
        reads.append(t)
        # two GPUs drawing 150 W each by their counters; the instant power reads 999 W (a spike the counter does not see)
        return [GpuReading(i, "NVIDIA H200", 999.0, 80.0, 40.0 + i, 1755.0, 150.0 * (t - t0)) for i in range(2)]

    stage = GpuSampler(tmp_path / "gpu.jsonl", interval_s=0.005, read=read, clock=clock).start()
    deadline = time.time() + 30
    while len(stage.samples) < 12 and time.time() < deadline:
        time.sleep(0.01)
    assert stage.running() and stage.progress().done >= 12 and "1998 W" in str(stage.progress())
    window = (t0 + 1.25, t0 + 4.75)  # cut between samples: the counter is interpolated at both ends
    result = stage.finish(window)
    assert not stage.running() and result.gpus == 2 and result.names == ("NVIDIA H200", "NVIDIA H200")
    assert result.energy_source == "nvml_energy_counter" and result.energy_j == pytest.approx(2 * 150.0 * 3.5)
    assert result.power_w_mean == pytest.approx(300.0) and result.power_w_max == 1998.0
    assert result.util_mean == 80.0 and result.mem_gib_max == 81.0 and result.sm_mhz_mean == 1755.0
    assert result.output_tokens_per_joule(2100.0) == pytest.approx(2.0)
    # every sample (the last one taken by finish) is on disk, and summarises the same from there
    on_disk = read_samples(tmp_path / "gpu.jsonl")
    assert [s.t for s in on_disk] == reads == [s.t for s in result.samples] and result.samples_taken == len(reads)
    assert summarize(on_disk, window).energy_j == pytest.approx(result.energy_j)
    m = result.flat_metrics()
    assert m == {"gpu/power_w_mean": pytest.approx(300.0), "gpu/power_w_max": 1998.0, "gpu/energy_j": pytest.approx(1050.0),
                 "gpu/util_mean": 80.0, "gpu/mem_gib_max": 81.0, "gpu/sm_mhz_mean": 1755.0, "gpu/count": 2.0,
                 "gpu/samples": float(len(reads)), "gpu/sample_failures": 0.0}


def test_read_errors_are_counted_not_raised_nor_failures(tmp_path):
    calls = []

    def read() -> list[GpuReading]:
        calls.append(1)
        if len(calls) % 2 == 0:
            raise RuntimeError("NVML_ERROR_GPU_IS_LOST")
        return [GpuReading(0, "NVIDIA L4", 60.0, 90.0, 20.0, 2040.0)]

    stage = GpuSampler(tmp_path / "gpu.jsonl", interval_s=0.005, read=read).start()
    while len(calls) < 8:
        time.sleep(0.01)
    result = stage.finish()
    assert result.sample_failures >= 4 and "GPU_IS_LOST" in result.last_error and result.failures == []
    assert result.samples_taken == len(read_samples(tmp_path / "gpu.jsonl")) and result.energy_source == "trapezoid"


def test_energy_by_trapezoid_over_a_cut_window():
    # 100 W for t = 0..10 s, 300 W from 11 s: [5, 15] holds 5 s at 100 W, the 1-s ramp (200 J) and 4 s at 300 W
    samples = _series([100.0] * 11 + [300.0] * 10)
    result = summarize(samples, (5.0, 15.0))
    assert result.energy_source == "trapezoid" and result.energy_j == pytest.approx(500 + 200 + 1200)
    assert result.power_w_mean == pytest.approx(190.0) and result.power_w_max == 300.0
    assert summarize(samples, (5.5, 14.5)).energy_j == pytest.approx(450 + 200 + 1050)  # cuts between samples
    assert trapezoid([0.0, 10.0], [0.0, 10.0], -5.0, 5.0) == pytest.approx(12.5)  # clipped to the samples' span
    assert result.output_tokens_per_joule(3800) == pytest.approx(2.0)
    # the counter, where NVML has one, gives the same energy for the same power
    assert summarize(_series([100.0] * 11 + [300.0] * 10, energy=True), (5.5, 14.5)).energy_j == pytest.approx(1700.0)


def test_the_time_series_are_per_second_of_the_window():
    samples = _series([100.0, 120.0, 140.0, 160.0, 180.0, 200.0, 220.0], t0=50.0, step=0.5)
    result = summarize(samples, (50.5, 52.5))
    h = result.history()
    assert [(p.step, p.value) for p in h["gpu/power_w"]] == [(0, 130.0), (1, 170.0), (2, 200.0)]
    assert [p.t for p in h["gpu/power_w"]] == [50.5, 51.5, 52.5] and set(h) == {"gpu/power_w", "gpu/util", "gpu/mem_gib", "gpu/sm_mhz"}
    # seconds into a load that began at 50.0: 50.5 | 51.0, 51.5 | 52.0, 52.5 (utilisation 51 + one a sample)
    assert [(p.step, p.value) for p in result.history(start=50.0)["gpu/util"]] == [(0, 51.0), (1, 52.5), (2, 54.5)]


def test_no_samples_no_metrics():
    result = summarize([], (0.0, 1.0))
    assert result.flat_metrics() == {"gpu/count": 0.0, "gpu/samples": 0.0, "gpu/sample_failures": 0.0} and result.energy_j is None
