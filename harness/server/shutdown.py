"""Stopping on a signal without leaving anything behind.

SIGINT, SIGTERM and SIGHUP all stop a run the same way: the first raises `Interrupted` in the
main thread, so every `with`/`finally` on the way out stops its stage, marks its MLflow run and
reaps its process group. A further signal during that cleanup does not interrupt the cleanup
(which would abandon children); it makes every stop still in progress hurry: the group gets its
hurry signal, if it has one (Locust: stop the users, drain briefly, record the requests still in flight as
interrupted), and SIGKILL `HURRY_GRACE_S` after the second signal instead of the full grace period. Every process group the
harness starts is registered here, and an `atexit` hook kills any group still alive, whatever
path the interpreter takes out.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from harness.errors import Interrupted

SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)
HURRY_GRACE_S = 2.0
"""After a second signal, a stopping group has this long (from that signal) before SIGKILL."""

_groups: "weakref.WeakSet" = weakref.WeakSet()
_state = {"signal": None, "hurry": False, "count": 0}


def register(proc: object) -> None:
    """A ManagedProcess whose group must not outlive the harness."""
    _groups.add(proc)


def hurry() -> bool:
    """True once a second signal asked the cleanup to hurry."""
    return bool(_state["hurry"])


def received() -> str | None:
    """The name of the first stopping signal received, if any."""
    return _state["signal"]


def _handler(signum: int, _frame: object) -> None:
    _state["count"] = int(_state["count"]) + 1
    if _state["signal"] is None:
        _state["signal"] = signal.Signals(signum).name
        raise Interrupted(signal.Signals(signum).name)
    _state["hurry"] = True  # during cleanup: never raise again, make the stops quick instead


@contextmanager
def handle_signals() -> Iterator[None]:
    """Within this block (main thread only) SIGINT/SIGTERM/SIGHUP raise Interrupted once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _state.update(signal=None, hurry=False, count=0)
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _kill_leftovers() -> None:
    for proc in list(_groups):
        pid = getattr(proc, "pid", None)
        if pid and getattr(proc, "poll", lambda: 0)() is None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


atexit.register(_kill_leftovers)
