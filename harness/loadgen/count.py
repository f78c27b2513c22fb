"""`load.requests`: one request count shared by every user and every local process.

`RequestBudget` keeps two counters, requests started and requests finished, in a small file under
an exclusive lock (like the pacer's file), or in-process without a path. A user takes a slot
before each request (`take`, False once N were started) and reports its end after the record is
written (`finish`, True exactly once: for the N-th); that user then ends the test, so Locust
stops as soon as the last request in flight has finished. Pure code (no gevent, no Locust).
"""

from __future__ import annotations

import struct
from pathlib import Path

from harness.loadgen.shared_struct import SharedStruct

_FMT = "<qq"  # started, finished
_SIZE = struct.calcsize(_FMT)


class RequestBudget:
    """N requests in all: `take` one before sending, `finish` it after its record is written."""

    def __init__(self, total: int, path: str | Path | None = None):
        if total < 1:
            raise ValueError("a request budget needs total >= 1")
        self.total = total
        self.path = Path(path) if path else None
        self._local = [0, 0]
        self._shared = SharedStruct(self.path, _FMT, (0, 0)) if self.path is not None else None

    def _update(self, started: int, finished: int) -> tuple[int, int, int, int]:
        """Add to the counters, never starting more than the total: (old started, old finished, new started, new finished)."""
        if self.path is None:
            s, f = self._local
            self._local = [min(s + started, max(s, self.total)), f + finished]
            return s, f, *self._local
        assert self._shared is not None
        (s, f), (ns, nf) = self._shared.update(lambda old: (min(old[0] + started, max(old[0], self.total)), old[1] + finished))
        return s, f, ns, nf

    def take(self) -> bool:
        """A slot for one more request; False once `total` were started."""
        s, _, ns, _ = self._update(1, 0)
        return ns > s

    def finish(self) -> bool:
        """One request ended (its record written); True for the one that completes the total."""
        _, f, _, nf = self._update(0, 1)
        return f < self.total <= nf

    def spent(self) -> bool:
        """Every slot was taken: no more requests will start."""
        s, _, _, _ = self._update(0, 0)
        return s >= self.total

    def counts(self) -> tuple[int, int]:
        """(started, finished)."""
        s, f, _, _ = self._update(0, 0)
        return s, f


def read_counts(path: Path) -> tuple[int, int] | None:
    """(started, finished) from a budget file, None when there is none (yet)."""
    try:
        return struct.unpack(_FMT, path.read_bytes()[:_SIZE])
    except (OSError, struct.error):
        return None
