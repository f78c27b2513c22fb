"""A hurried stop of the load generator that still writes a record for every request the server received.

The harness stops Locust with SIGTERM: Locust stops its users gracefully (each finishes its request, within
`--stop-timeout`) and exits, and every request has its record. A second Ctrl-C at the harness hurries that stop: the
harness sends `HURRY_SIGNAL` to Locust's process group and kills it `HURRY_GRACE_S` (harness/server/shutdown.py)
later. On `HURRY_SIGNAL` each Locust process stops starting requests, lets the ones in flight finish for `DRAIN_S`,
then kills its users: a user killed mid-request writes it as failed, "Interrupted" with the chunks that had arrived
(harness/loadgen/chat_user.py), before the process exits or is killed. So does a user killed when a graceful stop
outlasts `--stop-timeout`. A web-UI user's Stop of a test is the exception (`records_cut`): it cuts the requests in
flight on purpose and, as before, they leave no record (until the process itself quits).

The harness process imports the constants (harness/load/runner.py): gevent and Locust are imported only inside the
functions, which run in the Locust process.
"""

from __future__ import annotations

import signal
from typing import Any

HURRY_SIGNAL = signal.SIGUSR1
"""Sent by the harness to the Locust group when a second signal hurries the stop (harness/load/runner.py)."""
DRAIN_S = 0.5
"""A hurried stop lets the requests in flight finish for this long, then interrupts (and records) the rest."""
INTERRUPTED = "Interrupted: the load was stopped before the reply finished"
"""The error of a request in flight when its user was stopped (its record keeps the chunks that had arrived)."""


_quitting: dict[str, bool] = {"now": False}
"""This process is shutting down (Locust's `quitting`: SIGTERM from the harness, Ctrl-C; or `HURRY_SIGNAL`)."""


def _quit(**_: Any) -> None:
    _quitting["now"] = True


def install(environment: Any) -> None:
    """Handle `HURRY_SIGNAL` in this Locust process (each process of `--processes` installs its own)."""
    import gevent

    gevent.signal_handler(HURRY_SIGNAL, lambda: gevent.spawn(hurry, environment))
    environment.events.quitting.add_listener(_quit)


def records_cut(environment: Any) -> bool:
    """Whether a user killed mid-request writes that request (failed, `INTERRUPTED`): in a headless run (the harness's)
    always, in the web UI once the process quits; not when a web-UI user stops a test."""
    opts = getattr(environment, "parsed_options", None)
    return _quitting["now"] or opts is None or bool(getattr(opts, "headless", True))


def hurry(environment: Any, drain_s: float = DRAIN_S) -> None:
    """Stop every user of this process now: no new request, `drain_s` for those in flight, then kill (each records)."""
    import gevent
    from locust.user.task import LOCUST_STATE_STOPPING

    _quit()
    runner = environment.runner
    users = list(getattr(runner, "user_greenlets", None) or [])
    for greenlet in users:
        user = greenlet.args[0] if greenlet.args else None
        if user is not None and not greenlet.dead and user._state != LOCUST_STATE_STOPPING:
            try:
                user.stop(force=False)  # running: finish this request and stop; waiting: killed at once
            except Exception:  # noqa: BLE001 - a user in an odd state is killed below anyway
                pass
    gevent.joinall(users, timeout=drain_s)
    gevent.killall([g for g in users if not g.dead], block=True, timeout=max(1.0, drain_s))
