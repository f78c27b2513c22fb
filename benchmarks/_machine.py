"""What the machine did during a benchmark, from /proc (Linux): CPU per process tree and hypervisor steal."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_jiffies() -> tuple[int, int]:
    """(all, steal) jiffies of the machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[7]


def steal_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of the machine's CPU time the hypervisor gave to other guests between two `cpu_jiffies()` (vmstat's 'st')."""
    return round(100 * (after[1] - before[1]) / max(after[0] - before[0], 1), 1)


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) of a process and its direct children (Locust's --processes forks)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(stat.parent.name) == root or int(fields[1]) == root:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total
