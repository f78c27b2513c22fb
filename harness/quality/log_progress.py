"""Where a running lm-eval stands, read from its log: booting, or n of N requests answered.

lm-eval spends tens of seconds importing and building contexts before its first request (a full
core on a 2-core box); "Running <type> requests" marks the end of that boot. Its "Requesting API"
tqdm bars (one per request batch with its own gen_kwargs) count answered requests, and the
"Cached requests: C, Requests remaining: R" lines say how many there are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_SENDING = re.compile(r"Running (generate_until|loglikelihood|loglikelihood_rolling) requests")
_REMAINING = re.compile(r"Cached requests: (\d+), Requests remaining: (\d+)")
_BAR = re.compile(r"Requesting API:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")
_TAIL_BYTES = 256 * 1024


@dataclass(frozen=True)
class LogProgress:
    sending: bool
    """lm-eval has finished booting and sends (or answers from its cache)."""
    answered: int
    """Requests answered over the HTTP API so far."""
    remaining: int | None
    """Requests to send (after cache hits); None until lm-eval has said."""
    cached: int = 0


def read_progress(log: Path) -> LogProgress:
    """Parse the tail of lm-eval's log (a missing log: still booting)."""
    try:
        with log.open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - _TAIL_BYTES))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return LogProgress(False, 0, None)
    remaining = [(int(c), int(r)) for c, r in _REMAINING.findall(text)]
    bars: list[list[int]] = []
    for n, total in ((int(a), int(b)) for a, b in _BAR.findall(text)):
        if not bars or n < bars[-1][0] or total != bars[-1][1]:
            bars.append([n, total])
        else:
            bars[-1][0] = n
    return LogProgress(
        sending=bool(_SENDING.search(text)),
        answered=sum(n for n, _ in bars),
        remaining=sum(r for _, r in remaining) if remaining else None,
        cached=sum(c for c, _ in remaining),
    )
