"""One server per GPU: who else holds memory on the GPUs a server will use, and waiting for a stopped one's to be freed.

Before a GPU engine starts, `other_holders` lists the processes NVML sees on the GPUs of its CUDA_VISIBLE_DEVICES and
`shared_warning` (a pure function of those records) says whether and how to warn. When a start failed on a transient
memory cause, `wait_memory_freed` waits for the memory to fall before the next start. Without nvidia-ml-py or an
NVIDIA GPU there is nothing to check: no warning, and a fixed pause instead of the wait.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from harness.server.gpu import GpuUnavailable, NvmlReader

FIXED_PAUSE_S = 10.0
"""Without NVML: the pause before a retried start."""
FREE_WAIT_MAX_S = 60.0
"""With NVML: the longest wait for the GPU memory to fall before a retried start."""
SETTLED_S = 10.0
"""With NVML: the used memory counts as settled when it has not fallen for this long."""
POLL_S = 1.0
GIB = 2**30


class GpuHolder(NamedTuple):
    """One process holding memory on one GPU (NVML's compute processes)."""

    gpu: int | str
    """The GPU's index or UUID, as CUDA_VISIBLE_DEVICES names it."""
    pid: int
    bytes: int | None
    """None when NVML does not say (e.g. a process of another container)."""


def visible_devices(env: Mapping[str, str]) -> list[int | str] | None:
    """The GPUs a server started with `env` will use: CUDA_VISIBLE_DEVICES's indices or UUIDs; None = every GPU
    (unset, or a form NVML is not asked by here, such as MIG names); [] = none."""
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    out: list[int | str] = []
    for part in (p.strip() for p in value.split(",") if p.strip()):
        if part.isdigit():
            out.append(int(part))
        elif part.startswith("GPU-"):
            out.append(part)
        else:
            return None
    return out


def shared_warning(holders: Sequence[GpuHolder], own_pids: frozenset[int] = frozenset()) -> str | None:
    """The warning for other processes holding memory on the server's GPUs; None when there are none."""
    others = [h for h in holders if h.pid not in own_pids]
    if not others:
        return None
    parts = []
    for gpu in dict.fromkeys(h.gpu for h in others):
        on = [h for h in others if h.gpu == gpu]
        held = sum(h.bytes or 0 for h in on)
        pids = ", ".join(f"pid {h.pid}" + (f": {h.bytes / GIB:.1f} GiB" if len(on) > 1 and h.bytes is not None else "")
                         for h in on)
        who = "another process holds" if len(on) == 1 else f"{len(on)} other processes hold"
        parts.append(f"{who} {held / GIB:.1f} GiB on GPU {gpu} ({pids})")
    return "; ".join(parts) + ": measurements share the GPU; vLLM's memory profiling may fail"


def _reader(env: Mapping[str, str]) -> NvmlReader | None:
    """NVML on the GPUs of `env`'s CUDA_VISIBLE_DEVICES; None when it hides every GPU, or without NVML or a GPU."""
    devices = visible_devices(env)
    if devices == []:
        return None
    try:
        return NvmlReader(devices)
    except GpuUnavailable:
        return None


def _others(reader: NvmlReader) -> list[GpuHolder]:
    """The compute processes on the reader's GPUs, this one left out."""
    return [GpuHolder(*h) for h in reader.holders() if h[1] != os.getpid()]


def other_holders(env: Mapping[str, str]) -> list[GpuHolder] | None:
    """The compute processes on the GPUs of `env`'s CUDA_VISIBLE_DEVICES, this one left out; None without NVML or a GPU."""
    reader = _reader(env)
    if reader is None:
        return None
    try:
        return _others(reader)
    finally:
        reader.close()


def wait_memory_freed(env: Mapping[str, str], sleep: Callable[[float], None] = time.sleep) -> str:
    """Wait until no other process holds memory on the server's GPUs, or the used memory has stopped falling for
    SETTLED_S (someone else keeps theirs), at most FREE_WAIT_MAX_S; without NVML a FIXED_PAUSE_S pause. Returns what it
    waited for."""
    reader = _reader(env)
    if reader is None:
        sleep(FIXED_PAUSE_S)
        return f"paused {FIXED_PAUSE_S:.0f}s (no NVML to watch the GPU memory)"
    try:
        started = last_fall = time.monotonic()
        lowest = reader.used_bytes()
        while True:
            if not _others(reader):
                return f"GPU memory freed ({(reader.used_bytes() or 0) / GIB:.1f} GiB in use)"
            now = time.monotonic()
            if now - started >= FREE_WAIT_MAX_S:
                return f"waited {FREE_WAIT_MAX_S:.0f}s; {(lowest or 0) / GIB:.1f} GiB still in use"
            if now - last_fall >= SETTLED_S:
                return f"GPU memory settled at {(lowest or 0) / GIB:.1f} GiB in use"
            sleep(POLL_S)
            used = reader.used_bytes()
            if used is not None and (lowest is None or used < lowest):
                lowest, last_fall = used, time.monotonic()
    finally:
        reader.close()
