"""GPU power, utilisation, memory and SM clock during the load, through NVML (nvidia-ml-py: pip install '.[gpu]').

The sampler is a stage: `start()` reads every GPU each `interval_s` on a thread, each sample
appended to a JSONL file first (raw before summary, like the /metrics scraper); `finish(window)`
summarises the measured window (harness/server/gpu_summary.py: energy from NVML's counter, else
the trapezoid of the power). Without pynvml or an NVIDIA GPU the stage is skipped (`skipped` says why),
never failed: read errors are counted, as unanswered scrapes are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.server.gpu_summary import (  # noqa: F401  (the stage's records, re-exported)
    TOKENS_PER_JOULE,
    GpuReading,
    GpuResult,
    GpuSample,
    SeriesPoint,
    read_samples,
    summarize,
    trapezoid,
)
from harness.stage import Progress

STAGE = "gpu"
NOT_INSTALLED = "nvidia-ml-py not installed: pip install '.[gpu]'"


# ------------------------------------------------------------------ NVML

class GpuUnavailable(Exception):
    """No sampling possible here; the message is the skip reason."""


class NvmlReader:
    """A `read` for `GpuSampler` over NVML: every GPU, or the given indices / UUIDs; GpuUnavailable when there is none."""

    def __init__(self, devices: Sequence[int | str] | None = None):
        try:
            import pynvml
        except ImportError as exc:
            raise GpuUnavailable(NOT_INSTALLED) from exc
        self.nvml = pynvml
        try:
            pynvml.nvmlInit()
            ids = range(pynvml.nvmlDeviceGetCount()) if devices is None else devices
            self.ids = list(ids)
            self.handles = [pynvml.nvmlDeviceGetHandleByUUID(d) if isinstance(d, str) else pynvml.nvmlDeviceGetHandleByIndex(d) for d in ids]
            self.names = [n.decode() if isinstance(n, bytes) else str(n) for n in map(pynvml.nvmlDeviceGetName, self.handles)]
        except pynvml.NVMLError as exc:
            raise GpuUnavailable(f"no NVIDIA GPU (NVML: {exc})") from exc
        if not self.handles:
            self.close()
            raise GpuUnavailable("no NVIDIA GPU (NVML: 0 devices)")

    def _value(self, read: Callable[[], float], scale: float = 1.0) -> float | None:
        try:
            return float(read()) * scale
        except self.nvml.NVMLError:
            return None

    def __call__(self) -> list[GpuReading]:
        n, v = self.nvml, self._value
        return [GpuReading(
            index=i, name=self.names[i],
            power_w=v(lambda: n.nvmlDeviceGetPowerUsage(h), 1e-3),  # mW
            util_pct=v(lambda: n.nvmlDeviceGetUtilizationRates(h).gpu),  # % of time a kernel ran
            mem_gib=v(lambda: n.nvmlDeviceGetMemoryInfo(h).used, 2**-30),
            sm_mhz=v(lambda: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM)),
            energy_j=v(lambda: n.nvmlDeviceGetTotalEnergyConsumption(h), 1e-3),  # mJ since the driver loaded
        ) for i, h in enumerate(self.handles)]

    def holders(self) -> list[tuple[int | str, int, int | None]]:
        """(GPU index or UUID as asked, pid, bytes held; None when NVML does not say) of every compute process on the GPUs read."""
        out: list[tuple[int | str, int, int | None]] = []
        for i, h in zip(self.ids, self.handles):
            try:
                procs = self.nvml.nvmlDeviceGetComputeRunningProcesses(h)
            except self.nvml.NVMLError:
                continue
            out += [(i, int(p.pid), int(p.usedGpuMemory) if isinstance(p.usedGpuMemory, int) else None) for p in procs]
        return out

    def used_bytes(self) -> int | None:
        """Memory in use on the GPUs read, in all (None when NVML cannot say)."""
        try:
            return sum(int(self.nvml.nvmlDeviceGetMemoryInfo(h).used) for h in self.handles)
        except self.nvml.NVMLError:
            return None

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except self.nvml.NVMLError:
            pass


# ------------------------------------------------------------------ the stage

class GpuSampler:
    """The GPU stage: `read()` every `interval_s` on a thread, each sample written to `out_path` (JSONL) first."""

    name = STAGE

    def __init__(self, out_path: Path, interval_s: float = 0.5, read: Callable[[], Sequence[GpuReading]] | None = None,
                 clock: Callable[[], float] = time.time, devices: Sequence[int | str] | None = None):
        self.out_path = out_path
        self.interval_s = interval_s
        self.clock = clock
        self.devices = devices
        self.samples: list[GpuSample] = []
        self.failures = 0
        self.last_error: str | None = None
        self.skipped: str | None = None
        self._read = read
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def sample_once(self) -> GpuSample | None:
        """Read every GPU now and append the sample to the file; None (a failure counted) when the read raised."""
        if self._read is None:
            return None
        try:
            readings = tuple(self._read())
        except Exception as exc:  # NVML errors are many (GPU lost, driver reset): counted, never raised
            with self._lock:
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            return None
        sample = GpuSample(self.clock(), readings)
        with self._lock:
            self.out_path.parent.mkdir(parents=True, exist_ok=True)
            with self.out_path.open("a") as fh:
                fh.write(sample.to_json() + "\n")
            self.samples.append(sample)
        return sample

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_once()

    def start(self) -> "GpuSampler":
        """Open NVML (unless a `read` was given), sample once, and keep sampling in the background; skipped without a GPU."""
        if self._read is None:
            try:
                self._read = NvmlReader(self.devices)
            except GpuUnavailable as exc:
                self.skipped = str(exc)
                return self
        self.sample_once()
        self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)
        self._thread.start()
        return self

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def progress(self) -> Progress:
        if self.skipped:
            return Progress(STAGE, 0, None, " samples", f"skipped: {self.skipped}")
        last = self.samples[-1].total("power_w") if self.samples else None
        return Progress(STAGE, len(self.samples), None, " samples", f"{last:.0f} W" if last is not None else "")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 15)

    def finish(self, window: tuple[float, float] | None = None) -> GpuResult:
        """Stop, sample once more and summarise over `window` (epoch start, end; None = every sample)."""
        if self.skipped:
            return GpuResult(skipped=self.skipped)
        self.stop()
        self.sample_once()
        getattr(self._read, "close", lambda: None)()
        result = summarize(self.samples, window)
        result.file, result.sample_failures, result.last_error = self.out_path, self.failures, self.last_error
        return result

