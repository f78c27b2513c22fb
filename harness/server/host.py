"""The host a server runs on, as the run records it: the GPUs (`nvidia-smi`) and the CPU model (`/proc/cpuinfo`);
its own noise (CPU steal from /proc/stat) and the split of its cores between a launched server and the load generator."""

from __future__ import annotations

import math
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass


def hardware() -> tuple[str, str]:
    """(gpu, cpu) names; gpu is 'none' without nvidia-smi."""
    gpu = "none"
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
            names = [n.strip() for n in out.stdout.splitlines() if n.strip()]
            if names:
                gpu = f"{len(names)}x {names[0]}"
        except (OSError, subprocess.SubprocessError):
            pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return gpu, f"{cpu} ({os.cpu_count()} cores)"


# ------------------------------------------------------------------ host noise and CPU affinity

MIN_CORES_TO_SPLIT = 4
"""Fewer usable cores than this: the load generator and a launched server share them all (pinning would starve one)."""


def cpu_times(path: str = "/proc/stat") -> tuple[float, ...] | None:
    """The host's aggregate CPU times (user, nice, system, idle, iowait, irq, softirq, steal, ...) in ticks; None where
    there is no /proc/stat (not Linux)."""
    try:
        with open(path, encoding="ascii") as fh:
            first = fh.readline().split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    return tuple(float(x) for x in first[1:])


def steal_pct(before: tuple[float, ...] | None, after: tuple[float, ...] | None) -> float:
    """CPU steal between two `cpu_times` readings, in % of all CPU time (guest time, already counted in user, left
    out); NaN when either is missing, the kernel reports no steal, or no time passed."""
    if before is None or after is None or len(before) < 8 or len(after) < 8:
        return math.nan
    delta = [a - b for a, b in zip(after[:8], before[:8])]
    total = sum(delta)
    return 100.0 * delta[7] / total if total > 0 else math.nan


@dataclass(frozen=True)
class CoreSplit:
    """Which cores a launched server and the load generator get; both None when they share every core."""

    server: frozenset[int] | None
    load: frozenset[int] | None
    reason: str
    """One sentence for the log: the split, or why there is none."""


def split_cores(cores: frozenset[int] | set[int] | None = None) -> CoreSplit:
    """The load generator on the last max(1, n // 8) of the `n` usable cores (default: this process's affinity), a
    launched server on the rest; no split under MIN_CORES_TO_SPLIT cores or where affinity is not supported. The server's
    and the load's sides each call this with the same cores, so they agree without talking to each other."""
    if cores is None:
        if not hasattr(os, "sched_getaffinity"):
            return CoreSplit(None, None, "CPU affinity: not supported on this platform; the load generator shares the server's cores")
        cores = os.sched_getaffinity(0)
    ordered = sorted(cores)
    if len(ordered) < MIN_CORES_TO_SPLIT:
        return CoreSplit(None, None, f"CPU affinity: only {len(ordered)} usable core(s) (< {MIN_CORES_TO_SPLIT}); the load generator "
                                     "shares them with the server (expect noisier timings)")
    k = max(1, len(ordered) // 8)
    load, server = frozenset(ordered[-k:]), frozenset(ordered[:-k])
    return CoreSplit(server, load, f"CPU affinity: load generator on core(s) {_ranges(load)}, a launched server on {_ranges(server)}")


def pin(pid: int, cores: frozenset[int] | None) -> str | None:
    """Set process `pid`'s affinity (its children started later inherit it); None when done or nothing to do, else why not."""
    if cores is None:
        return None
    try:
        os.sched_setaffinity(pid, cores)
    except (OSError, AttributeError) as exc:
        return f"CPU affinity not set: {exc}"
    return None


def _ranges(cores: frozenset[int]) -> str:
    xs = sorted(cores)
    return f"{xs[0]}" if len(xs) == 1 else f"{xs[0]}-{xs[-1]}" if xs[-1] - xs[0] == len(xs) - 1 else ",".join(map(str, xs))
