"""The LLM tab's numbers: the raw records of one web-UI test, read as they are written, summarised by the
harness's own `summarize` (the same code and window rule as a `harness run`), laid out as table rows.

Pure: no Locust, no gevent (unit-tested on their own).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import Failure
from harness.load.records import complete_lines_since
from harness.load.served import SERVED_KIND
from harness.load.stats import Distribution, LoadSummary
from harness.loadgen.record import UNWRITABLE_SUFFIX, RequestRecord

COLUMNS = (("metric", "Metric"), ("value", "Value"), ("p50", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99"),
           ("mean", "Mean"), ("max", "Max"), ("n", "Count"))
"""The tab's table: one-word keys (Locust's UI camel-cases keys)."""
_PROGRESS = re.compile(r"Requesting API:\s*\d+%\|[^|\r\n]*\|\s*(\d+)/(\d+)")


class RecordTail:
    """The records of the files `<path>*` (one per local Locust process) started at or after `since`, read
    incrementally: each call parses only the complete lines appended since the last one."""

    def __init__(self, path: Path, since: float = -math.inf):
        self.path = path
        self.since = since
        self.records: list[RequestRecord] = []
        self.dropped = 0
        """Complete lines that were not a record."""
        self._offsets: dict[Path, int] = {}

    def files(self) -> list[Path]:
        if not self.path.parent.is_dir():
            return []
        return sorted(p for p in self.path.parent.glob(self.path.name + "*") if UNWRITABLE_SUFFIX not in p.name and p.is_file())

    def read(self) -> list[RequestRecord]:
        """Every record so far, ordered by start time."""
        new: list[RequestRecord] = []
        for path in self.files():
            got = complete_lines_since(path, self._offsets.get(path, 0))
            if got is None:
                continue
            data, self._offsets[path] = got
            for line in data.splitlines():
                if not line.strip():
                    continue
                try:
                    rec = RequestRecord.from_dict(json.loads(line))
                except (ValueError, TypeError, AttributeError):
                    self.dropped += 1
                    continue
                if rec.t_start >= self.since:
                    new.append(rec)
        if new:
            self.records.extend(new)
            self.records.sort(key=lambda r: r.t_start)
        return self.records


@dataclass
class QualityView:
    """Where the web UI's quality run stands, for the tab and its JSON."""

    state: str = "off"
    """off | starting | running | done | failed"""
    tasks: list[str] = field(default_factory=list)
    done: int | None = None
    """Samples lm-eval has had answered (its "Requesting API" progress bar), of `total`."""
    total: int | None = None
    elapsed_s: float = 0.0
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    """task -> metric -> value, once done."""
    samples: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Verdict:
    """Did the test's server serve (`harness/load/served.py::not_served` over its measured window), and is the test a
    result: what the tab's Verdict row and the JSON's `verdict` say."""

    state: str = "running"
    """running | stopping (judged once the run folder is written) | ok | failed"""
    text: str = ""
    """One line: `FAILED: <stage>: <cause>` (the dominant error kind, its count and the server's own message) or `ok: ...`;
    while the test runs, the judgement so far."""
    stage: str | None = None
    """The failed stage (as `harness.failed_stage`), once failed."""
    kind: str | None = None
    """The first failure's kind (`NotServed` when the server did not serve)."""


@dataclass
class MlflowView:
    """Where the test's MLflow run stands."""

    state: str = "off"
    """off | pending | waiting (for quality) | logging | logged | failed | local (no experiment: folder only)"""
    experiment: str = ""
    sweep_run_id: str | None = None
    run_id: str | None = None
    error: str | None = None
    status: str | None = None
    """The run's MLflow status once the run folder is written: FINISHED, or FAILED (a test that did not serve)."""

    def text(self, folder: Path) -> str:
        if self.state == "logged":
            return (f"logged as {self.status or 'FINISHED'}: run {self.run_id} in experiment '{self.experiment}' "
                    f"(sweep run {self.sweep_run_id})")
        if self.state == "failed":
            return f"not logged ({self.error}); the results are in {folder}: `harness sync {folder}` logs them"
        if self.state == "local":
            return f"no MLflow experiment set: results kept in {folder}"
        return {"pending": f"logged to experiment '{self.experiment}' when the test stops", "waiting": "waiting for the quality run",
                "logging": "logging ..."}.get(self.state, self.state)


def served_line(summary: LoadSummary, max_error_rate: float) -> str:
    """How a window that served went: its successes and errors against `load.max_error_rate`."""
    return (f"{summary.ok} of {summary.requests} requests in the measured window succeeded; {summary.errors} failed "
            f"({100 * summary.error_rate:.1f}%, load.max_error_rate {100 * max_error_rate:g}%)")


def final_verdict(failures: list[Failure], summary: LoadSummary | None, max_error_rate: float) -> Verdict:
    """The stopped test's verdict: FAILED with its first failure's one line (the load's, when the server did not serve),
    as its MLflow run ends, else ok with how it served."""
    if failures:
        first = failures[0]
        text = f"FAILED: {first.headline}"
        if len(failures) > 1:
            text += f" (also failed: {', '.join(f.stage for f in failures[1:])})"
        if first.kind == SERVED_KIND and summary is not None and summary.ok:
            text += f"; the latencies below are of its {summary.ok} successful requests only: not a result"
        return Verdict("failed", text, first.stage, first.kind)
    return Verdict("ok", "ok: " + (served_line(summary, max_error_rate) if summary is not None else "served"))


def lm_eval_progress(log_text: str) -> tuple[int, int] | None:
    """lm-eval's last "Requesting API: ..| done/total" progress bar update in its log, if any."""
    found = _PROGRESS.findall(log_text[-20_000:])
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def _num(x: float | int | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _row(metric: str, value: str = "", **cells: str) -> dict[str, str]:
    row = {key: "" for key, _ in COLUMNS}
    row.update(metric=metric, value=value, **cells)
    return row


def _dist_row(metric: str, d: Distribution) -> dict[str, str]:
    return _row(metric, p50=_num(d.p50), p90=_num(d.p90), p95=_num(d.p95), p99=_num(d.p99), mean=_num(d.mean), max=_num(d.max),
                n=str(d.count))


def rows(summary: LoadSummary | None, slo_set: bool, quality: QualityView, mlflow: str, note: str = "",
         verdict: Verdict | None = None) -> list[dict[str, str]]:
    """The tab's table rows: the verdict, latency percentiles, rates, goodput, errors, quality and where the MLflow run is."""
    out: list[dict[str, str]] = []
    if note:
        out.append(_row("Status", note))
    if verdict is not None:
        out.append(_row("Verdict", verdict.text))
    if summary is not None:
        out += [_dist_row("TTFT (ms)", summary.ttft_ms), _dist_row("TPOT (ms)", summary.tpot_ms), _dist_row("ITL (ms)", summary.itl_ms),
                _dist_row("E2E latency (ms)", summary.e2e_ms)]
        out += [
            _row("Output tokens/s", _num(summary.output_tokens_per_s)),
            _row("Total tokens/s", _num(summary.total_tokens_per_s)),
            _row("Requests/s (ok)", _num(summary.requests_per_s, 2)),
            _row("Goodput (req/s within load.slo)", _num(summary.goodput_per_s, 2) if slo_set else "no load.slo set"),
            _row("SLO attainment", _num(summary.slo_attainment, 3) if slo_set else ""),
            _row("Requests measured", str(summary.requests), n=str(summary.requests)),
            _row("Errors", str(summary.errors), n=str(summary.errors), mean=_num(summary.error_rate, 3)),
        ]
        out += [_row(f"Errors: {kind}", str(n), n=str(n)) for kind, n in sorted(summary.error_kinds.items())]
        out.append(_row("Excluded (warm-up)", str(summary.excluded_warmup), n=str(summary.excluded_warmup)))
    if quality.state != "off":
        tasks = ",".join(quality.tasks)
        if quality.state == "done":
            for task, metrics in quality.scores.items():
                for name, value in metrics.items():
                    out.append(_row(f"Quality {task}/{name}", _num(value, 3), n=str(quality.samples.get(task, ""))))
        else:
            where = f"{quality.done}/{quality.total} samples" if quality.total else ""
            text = quality.state + (f": {where}" if where else "") + f" ({quality.elapsed_s:.0f} s)"
            if quality.error:
                text += f": {quality.error}"
            out.append(_row(f"Quality {tasks}", text, n=str(quality.done) if quality.done is not None else ""))
    out.append(_row("MLflow", mlflow))
    for i, row in enumerate(out):  # Locust's table sorts rows by `name` (not shown): keep this order
        row["name"] = f"{i:03d}"
    return out


def summary_json(summary: LoadSummary | None) -> dict[str, Any] | None:
    """The summary as JSON-safe data (NaN as null)."""
    if summary is None:
        return None

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v

    return clean(asdict(summary))
