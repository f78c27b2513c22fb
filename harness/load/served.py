"""Did the server serve? The one check that decides whether a load's measured window is a result or a failure.

A load that ran against errors has failed: a window holding no request, no successful request, or more failed
requests than `load.max_error_rate` allows is a `Failure` of the load stage, named by its dominant error kind with
the server's own message and count. The pipeline (each variant) and the Locust web UI (each test) call this one
function; rate scans and capacity searches judge their points by `slo.max_error_rate` instead.
"""

from __future__ import annotations

from harness.errors import Failure
from harness.load.stats import LoadSummary

SERVED_KIND = "NotServed"
"""`Failure.kind` of a load whose server did not serve."""


def dominant_error(summary: LoadSummary) -> str:
    """`KIND xCOUNT: message` of the most frequent error kind (ties: the kind named first), the message being the
    first such error's text after its kind: the server's own words (`ErrorBody x14035: model overloaded`)."""
    if not summary.error_kinds:
        return "no error recorded"
    kind, count = max(summary.error_kinds.items(), key=lambda kv: kv[1])
    example = summary.error_examples.get(kind, kind)
    message = example[len(kind) + 1:].strip() if example.startswith(kind + ":") else example
    return f"{kind} x{count}: {message or example}"


def not_served(summary: LoadSummary, max_error_rate: float, recorded: int, warmup_s: float, measured_s: float) -> Failure | None:
    """The load stage's failure when its server did not serve, else None.

    `recorded`: records over the whole run (warm-up included), for the empty-window message.
    """
    n, errors = summary.requests, summary.errors
    if n == 0:
        return Failure(
            "load",
            f"no request started in the measured window finished before the load stopped ({recorded} recorded, all in the "
            f"{warmup_s:g} s warm-up): each took longer than the {measured_s:g} s window; lengthen load.duration_s, lower the "
            "load, or give the server more CPU",
            SERVED_KIND,
            cause="the server is far slower than the load expects (a busy machine, or concurrent quality requests)",
        )
    if summary.ok == 0:
        return Failure("load", f"the server did not serve: 0 of {n} requests in the measured window succeeded; "
                               f"{dominant_error(summary)}", SERVED_KIND)
    if errors / n > max_error_rate:
        return Failure("load", f"the server did not serve: {errors} of {n} requests in the measured window failed "
                               f"({100 * errors / n:.1f}% > load.max_error_rate {100 * max_error_rate:g}%); {dominant_error(summary)}",
                       SERVED_KIND)
    return None
