"""The host a server runs on, as the run records it: the GPUs (`nvidia-smi`) and the CPU model (`/proc/cpuinfo`)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess


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
