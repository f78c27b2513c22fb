"""A small fixed-format record in a file, shared by the local Locust processes of one run.

Read-modify-written under an exclusive `flock`, so every process sees every other's updates; the
pacer's arrival counter and `load.requests`' request budget are two of them. Pure code (no gevent).
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Callable
from pathlib import Path


class SharedStruct:
    """`fmt` (a struct format) stored at `path`; created holding `initial` unless another process already made it."""

    def __init__(self, path: str | Path, fmt: str, initial: tuple):
        self.path = Path(path)
        self.fmt = fmt
        self.size = struct.calcsize(fmt)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size < self.size:
                os.pwrite(fd, struct.pack(fmt, *initial), 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def update(self, change: Callable[[tuple], tuple]) -> tuple[tuple, tuple]:
        """Apply `change` to the stored values under the lock; (old, new). Nothing is written when they are equal."""
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            old = struct.unpack(self.fmt, os.pread(fd, self.size, 0))
            new = tuple(change(old))
            if new != old:
                os.pwrite(fd, struct.pack(self.fmt, *new), 0)
            return old, new
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
