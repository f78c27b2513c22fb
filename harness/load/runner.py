"""Run the Locust workload headless as a subprocess and summarise its raw records."""

from __future__ import annotations

import errno
import json
import logging
import os
import struct
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness.errors import Failure, LoadError
from harness.facts import HIGHER, NEITHER
from harness.load import exact_lengths
from harness.load.capacity_result import CapacityAtSLO
from harness.load.noise import host_noise
from harness.load.records import RequestRecord, complete_lines_since, read_record_files
from harness.load.settle import settled_start
from harness.load.stats import Distribution, LoadSummary, summarize
from harness.load.tokens import TokenCounter, count_records, make_counter
from harness.loadgen import trace_formats
from harness.loadgen.locustfiles import locustfile
from harness.loadgen.record import EXIT_RECORDS_UNWRITABLE, UNWRITABLE_SUFFIX
from harness.loadgen.stopping import HURRY_SIGNAL
from harness.server.endpoint import Endpoint
from harness.server.engines import find_engine
from harness.server.host import cpu_times, pin, split_cores, steal_pct
from harness.server.launch import free_port
from harness.server.process import ManagedProcess
from harness.spec.model import LoadSpec
from harness.stage import Progress, SubprocessStage

OPEN_LOOP_MARGIN_S = 2
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

log = logging.getLogger(__name__)
EXACT_LENGTHS_FILE = "exact_lengths.json"
"""load.workload.exact_lengths: the fitted vocabulary, in the load folder (read by every Locust process)."""


def default_locustfile(shaped: bool = False) -> Path:
    """The packaged locustfile (chat_steps.py for closed-loop steps): harness/loadgen/locustfiles, read as package data."""
    return locustfile(shaped)


@dataclass
class LoadArtifacts:
    """Files the load stage leaves in its folder."""

    folder: Path
    records: Path
    csv_prefix: Path
    html: Path
    log: Path
    pacer: Path
    lag: Path
    count: Path
    """`load.requests`: the shared request count (started, finished)."""

    @classmethod
    def in_folder(cls, folder: Path) -> "LoadArtifacts":
        return cls(
            folder, folder / "records.jsonl", folder / "locust", folder / "locust_report.html", folder / "locust.log",
            folder / "pacer.bin", folder / "client_lag", folder / "requests.bin",
        )

    def lag_samples_ms(self) -> list[float]:
        out: list[float] = []
        for path in sorted(self.folder.glob(self.lag.name + ".*")):
            for line in path.read_text().splitlines():
                try:
                    out.extend(json.loads(line))
                except json.JSONDecodeError:
                    continue  # torn last line
        return out

    def pacer_start(self) -> float | None:
        """Epoch start of the shared arrival schedule (open loop), if one was used."""
        try:
            t0, _ = struct.unpack("<dq", self.pacer.read_bytes()[:16])
        except (OSError, struct.error):
            return None
        return t0 or None

    def record_files(self) -> list[Path]:
        return sorted(p for p in self.folder.glob(self.records.name + "*") if UNWRITABLE_SUFFIX not in p.name)

    def files(self) -> list[Path]:
        return [p for p in sorted(self.folder.iterdir()) if p.is_file()]


@dataclass
class LoadResult:
    """Typed output of the load stage."""

    summary: LoadSummary
    records: list[RequestRecord]
    window_start: float
    window_end: float
    exit_code: int
    artifacts: LoadArtifacts
    scan: list["ScanPoint"] = field(default_factory=list)
    """Rate scan: every load point, in order (this result is the chosen point's)."""
    max_point_meeting_slo: float | None = None
    """Rate scan: the highest point meeting the SLOs, None when none did."""
    steps: list[StepResult] = field(default_factory=list)
    """pattern=steps: one summary per step, in order (`summary` covers the whole measured run)."""
    failures: list[Failure] = field(default_factory=list)
    """Partial failures that still left a result (a rate-scan point that failed)."""
    capacity: CapacityAtSLO | None = None
    """Capacity search (`load.capacity`): the capacity and its interval; `scan` then holds every measurement, by point."""

    def flat_metrics(self, prefix: str = "perf/") -> dict[str, float]:
        """The summary's metrics, plus `<prefix>scan/<point>/...` per scan point, `<prefix>step/<i>/...` per step, the capacity."""
        out = self.summary.flat_metrics(prefix)
        if self.capacity is not None:
            out.update(self.capacity.flat_metrics(prefix))
        for pt in self.scan:
            out.update(pt.result.summary.flat_metrics(f"{prefix}scan/{pt.point:g}/"))
            out[f"{prefix}scan/{pt.point:g}/meets_slo"] = NEITHER.of(pt.meets_slo)
        if self.scan and self.max_point_meeting_slo is not None:  # none met the SLOs: no value (a 0 would read as a rate)
            out[f"{prefix}scan/max_point_meeting_slo"] = HIGHER.of(self.max_point_meeting_slo)
        for st in self.steps:
            out.update(st.summary.flat_metrics(f"{prefix}step/{st.index}/"))
            out[f"{prefix}step/{st.index}/{'users' if st.users is not None else 'rate'}"] = NEITHER.of(st.offered)
        return out


@dataclass
class StepResult:
    """One step of `pattern: steps`: the requests started during it (warm-up excluded)."""

    index: int
    users: int | None
    """Concurrent users of the step (closed loop), else None."""
    rate: float | None
    """Requests/s of the step (open loop), else None."""
    start_s: float
    """Window start, seconds from the run's start (the step's start, or the end of the warm-up)."""
    end_s: float
    summary: LoadSummary

    @property
    def offered(self) -> float:
        return float(self.users if self.users is not None else self.rate or 0.0)


def step_results(spec: LoadSpec, records: list[RequestRecord], t0: float) -> list[StepResult]:
    """Per-step summaries of a `pattern: steps` run (empty otherwise); a step wholly inside the warm-up is left out."""
    if spec.pattern != "steps":
        return []
    out: list[StepResult] = []
    lo = 0.0
    for i, step in enumerate(spec.steps):
        hi = lo + step.duration_s
        start = max(lo, spec.warmup_s)
        if start < hi:
            summary = summarize(records, t0 + start, t0 + hi, spec.slo)
            out.append(StepResult(i, step.users, step.rate, start, hi, summary))
        lo = hi
    return out


@dataclass
class ScanPoint:
    """One load point of a rate scan."""

    point: float
    """Requests/s (open loop) or users (closed loop)."""
    result: LoadResult
    meets_slo: bool


def _workers_url(spec: LoadSpec, base_url: str) -> str:
    """The server URL Locust's users get: with `distributed.server_host`, its host as other machines reach it."""
    host = spec.distributed.server_host
    if spec.distributed.role != "master" or not host:
        return base_url
    url = urlsplit(base_url)
    netloc = f"[{host}]" if ":" in host else host
    if url.port is not None:
        netloc += f":{url.port}"
    return urlunsplit(url._replace(netloc=netloc))


def locust_argv(spec: LoadSpec, endpoint: Endpoint, art: LoadArtifacts) -> list[str]:
    run_time = int(round(spec.run_s()))
    if spec.open_loop:  # the schedule starts at the first claim, a moment after Locust's clock: let it finish
        run_time += OPEN_LOOP_MARGIN_S
    argv = [
        sys.executable, "-m", "locust",
        "-f", str(Path(spec.locustfile) if spec.locustfile else default_locustfile(spec.shaped)),
        "--headless",
        "--host", _workers_url(spec, endpoint.base_url),
    ]
    if not spec.shaped:  # a LoadTestShape sets users and duration itself
        # open loop: the users are only senders, so the whole pool starts at once
        spawn = max(spec.spawn_rate, float(spec.users)) if spec.open_loop else spec.spawn_rate
        argv += ["--users", str(spec.users), "--spawn-rate", str(spawn), "--run-time", f"{max(run_time, 1)}s"]
    argv += [
        "--stop-timeout", f"{int(spec.request_timeout_s)}s",
        "--csv", str(art.csv_prefix),
        "--csv-full-history",
        "--html", str(art.html),
        "--only-summary",
        "--loglevel", "INFO",
        "--model", endpoint.model,
        "--records", str(art.records),
        "--harness-load", spec.model_dump_json(),
        "--lag-file", str(art.lag),
    ]
    if spec.open_loop:
        argv += ["--pacer-file", str(art.pacer)]
    if spec.workload.exact_lengths is not None:  # written by LoadRun.start, before Locust starts
        argv += ["--harness-words", str(art.folder / EXACT_LENGTHS_FILE)]
    if spec.requests is not None:
        argv += ["--requests-file", str(art.count)]
    if endpoint.api_key_env:
        argv += ["--api-key-env", endpoint.api_key_env]
    if spec.processes > 1:
        # Locust's master would bind *:5557: a fixed port on every interface, where a concurrent run's workers (or any
        # host's) could join. Local workers only need loopback, on a port of this run's own.
        port = free_port("127.0.0.1")
        argv += ["--processes", str(spec.processes), "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                 "--master-host", "127.0.0.1", "--master-port", str(port)]
    d = spec.distributed
    if d.role == "master":  # workers: `harness worker` (harness/load/worker.py); they relay their records here
        argv += [
            "--master", "--master-bind-host", d.master_host, "--master-bind-port", str(d.master_port),
            "--expect-workers", str(d.expect_workers), "--expect-workers-max-wait", str(d.wait_for_workers_s),
        ]
    return argv


class LoadRun(SubprocessStage):
    """A started Locust subprocess; `finish()` waits and summarises (the load stage, harness/stage.py)."""

    name = "load"

    def __init__(self, spec: LoadSpec, endpoint: Endpoint, folder: Path):
        self.spec = spec
        self.endpoint = endpoint
        self.art = LoadArtifacts.in_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # a second Ctrl-C: Locust interrupts its requests in flight, records them, then the group is killed
        self.proc = ManagedProcess(locust_argv(spec, endpoint, self.art), self.art.log, grace_s=spec.request_timeout_s + 10,
                                   hurry_signal=HURRY_SIGNAL)
        self.counter: TokenCounter | None = None
        self.cpu_before: tuple[float, ...] | None = None
        self.affinity = ""
        """What `load.cpu_affinity` did, in one sentence (set at start)."""
        self._counted: dict[Path, tuple[int, int]] = {}
        """record file -> (bytes read, complete lines) so far: progress reads only what was appended since."""

    def start(self) -> "LoadRun":
        if self.spec.workload.trace is not None:  # a trace that cannot be read, or an empty window, fails now, not in Locust
            trace_formats.read(self.spec.workload.trace)
        if self.spec.tokenizer is not None:  # a tokenizer that cannot be built fails now, not after the run
            self.counter = make_counter(self.spec.tokenizer, self.endpoint)
        if self.spec.workload.exact_lengths is not None:  # the prompt vocabulary, fitted to the served model's tokenizer
            fitted = exact_lengths.fit(self.spec, self.endpoint)
            fitted.write(self.art.folder / EXACT_LENGTHS_FILE)
            log.info("%s", fitted.describe())
        self.art.pacer.unlink(missing_ok=True)  # a fresh schedule: the first claim sets its start
        self.art.count.unlink(missing_ok=True)
        self._counted.clear()
        self.started = time.time()
        self.cpu_before = cpu_times()
        self.proc.start()
        self.affinity = self._pin()
        log.info("%s", self.affinity)
        return self

    def _exact_lengths(self, measured: list[RequestRecord]) -> None:
        """The achieved prompt lengths, written beside the fit; a warning on screen when some missed their target."""
        achieved = exact_lengths.Achieved.of(measured)
        if achieved is None:
            log.warning("load.workload.exact_lengths: the server reported no prompt tokens (usage), so the achieved lengths are unknown")
            return
        achieved.record(self.art.folder / EXACT_LENGTHS_FILE)
        log.info("load.workload.exact_lengths: %s", achieved.describe())
        if achieved.exact < achieved.requests:
            log.warning("load.workload.exact_lengths: %d of %d prompts were not their target length: %s",
                        achieved.requests - achieved.exact, achieved.requests, achieved.describe())

    def _pin(self) -> str:
        """Keep Locust off a launched local server's cores (`load.cpu_affinity`); the sentence saying what was done."""
        if self.spec.cpu_affinity.mode == "off":
            return "CPU affinity: off (load.cpu_affinity)"
        host = urlsplit(self.endpoint.base_url).hostname or ""
        found = find_engine(self.endpoint.engine)
        if found is None or not found.launches or host not in LOOPBACK:
            return "CPU affinity: the server was not launched on this host; the load generator is not pinned"
        split = split_cores()
        return (pin(self.proc.pid, split.load) if self.proc.pid is not None else None) or split.reason

    def progress(self) -> Progress:
        done = self._records_so_far()
        elapsed = time.time() - self.started
        if self.spec.requests is not None:
            return Progress("load", done, self.spec.requests, " requests", f"{elapsed:.0f}s")
        total = self.spec.run_s()
        return Progress("load", min(elapsed, total), total, "s", f"{done} requests")

    def _records_so_far(self) -> int:
        """Complete record lines written so far (each file read from where the last call stopped)."""
        for path in self.art.record_files():
            offset, lines = self._counted.get(path, (0, 0))
            new = complete_lines_since(path, offset)
            if new is not None:
                self._counted[path] = (new[1], lines + new[0].count(b"\n"))
        return sum(lines for _, lines in self._counted.values())

    def deadline_s(self) -> float:
        """Seconds after start by which Locust must have exited: the run, one request timeout, 120 s, the worker wait."""
        d = self.spec.distributed
        waiting = d.wait_for_workers_s if d.role == "master" else 0
        return self.spec.run_s() + self.spec.request_timeout_s + 120 + waiting

    def unwritable(self) -> list[Path]:
        """Markers of load-generator processes that could not write a record (harness/loadgen/process_state.py)."""
        return sorted(self.art.folder.glob(f"{self.art.records.name}*{UNWRITABLE_SUFFIX}.*"))

    def running(self) -> bool:
        if self.proc.poll() is not None:
            return False
        if self.unwritable():  # records no longer reach disk: stop the whole load now
            self.stop()
            return False
        return not self.past_deadline(self.deadline_s())

    def finish(self, timeout_s: float | None = None) -> LoadResult:
        d = self.spec.distributed
        deadline = self.started + (timeout_s or self.deadline_s())
        while self.running() and time.time() < deadline:
            time.sleep(0.2)
        code = self.proc.poll()
        self.proc.stop()
        read = read_record_files(self.art.record_files())
        records = read.records
        markers = self.unwritable()
        if markers or code == EXIT_RECORDS_UNWRITABLE:
            code = markers[0].name.rsplit(".", 1)[-1] if markers else ""
            why = f"{code}: {os.strerror(getattr(errno, code))}" if hasattr(errno, code) else "disk full or read-only?"
            raise LoadError(f"the load generator could not write its raw records ({why}) and the load was stopped; "
                            f"{len(records)} records kept in {self.art.folder}; free disk space under tracking.run_dir")
        if code is None or self.timed_out:
            raise LoadError(f"Locust did not finish in time; {len(records)} records kept in {self.art.folder}")
        if d.role == "master" and not records and "Gave up waiting for workers" in self.proc.log_tail(200):
            raise LoadError(
                f"fewer than {d.expect_workers} Locust worker(s) connected to the master on {d.master_host}:{d.master_port} "
                f"within {d.wait_for_workers_s}s; on each worker machine run `harness worker --master <this host>:{d.master_port}`"
                f" (see {self.art.log})"
            )
        if (code not in (0, 1) and not self.stopped_early) or not records:
            # 1 means "some requests failed", which the records show; anything else is a crash
            raise LoadError(
                f"Locust exited with code {code} after {len(records)} requests; see {self.art.log}:\n"
                + self.proc.log_tail(25)
            )
        t0 = records[0].t_start
        paced = self.art.pacer_start()
        if paced is not None:
            t0 = min(t0, paced)
        warmup_s = self.spec.warmup_s
        if self.spec.warmup is not None and self.spec.settles:
            settled = settled_start(records, t0, self.spec.warmup, self.spec.warmup_s)
            warmup_s = settled.start_s
            if not settled.settled:
                log.warning("load.warmup: the output-token rate had not settled within +-%g%% by warmup.max_s = %g s; the "
                            "measured window starts there anyway (a server still warming up, or a rate that never settles)",
                            100 * self.spec.warmup.tolerance, self.spec.warmup.max_s)
        start = t0 + warmup_s
        end = start + self.spec.measured_s()
        tokenizer_error = None
        if self.counter is not None:  # after Locust has exited: never in the load generator's hot path
            tokenizer_error = count_records([r for r in records if start <= r.t_start < end], self.counter)
        if self.spec.workload.exact_lengths is not None:
            self._exact_lengths([r for r in records if start <= r.t_start < end])
        summary = replace(summarize(records, start, end, self.spec.slo), tokenizer_error=tokenizer_error, records_dropped=read.dropped,
                          warmup_s=warmup_s, host_steal_pct=steal_pct(self.cpu_before, cpu_times()))
        lags = self.art.lag_samples_ms()
        if lags:
            summary = replace(summary, client_lag_ms=Distribution.of_seconds([x / 1000.0 for x in lags]))
        for warning in host_noise(summary):
            log.warning("%s", warning)
        failures = []
        if self.spec.requests is not None and len(records) < self.spec.requests and not self.stopped_early:
            failures.append(Failure("load", f"load.requests: only {len(records)} of {self.spec.requests} requests were sent before the "
                                            f"run's cap (warmup_s + duration_s = {self.spec.run_s():g} s); raise duration_s", "LoadError"))
        return LoadResult(summary, records, start, end, code, self.art, steps=step_results(self.spec, records, t0), failures=failures)
