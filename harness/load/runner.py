"""Run the Locust workload headless as a subprocess and summarise its raw records."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import LoadError
from harness.load.records import RequestRecord, read_records
from harness.load.stats import LoadSummary, summarize
from harness.server.endpoint import Endpoint
from harness.server.process import ManagedProcess
from harness.spec.model import LoadSpec

REPO_ROOT = Path(__file__).resolve().parents[2]


def default_locustfile() -> Path:
    """The bundled locustfile; the packaged user module when the repo layout is absent."""
    bundled = REPO_ROOT / "locustfiles" / "chat.py"
    return bundled if bundled.is_file() else Path(__file__).with_name("chat_user.py")


@dataclass
class LoadArtifacts:
    """Files the load stage leaves in its folder."""

    folder: Path
    records: Path
    csv_prefix: Path
    html: Path
    log: Path

    @classmethod
    def in_folder(cls, folder: Path) -> "LoadArtifacts":
        return cls(folder, folder / "records.jsonl", folder / "locust", folder / "locust_report.html", folder / "locust.log")

    def record_files(self) -> list[Path]:
        return sorted(self.folder.glob(self.records.name + "*"))

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


def locust_argv(spec: LoadSpec, endpoint: Endpoint, art: LoadArtifacts) -> list[str]:
    run_time = int(round(spec.warmup_s + spec.duration_s))
    argv = [
        sys.executable, "-m", "locust",
        "-f", str(Path(spec.locustfile) if spec.locustfile else default_locustfile()),
        "--headless",
        "--host", endpoint.base_url,
        "--users", str(spec.users),
        "--spawn-rate", str(spec.spawn_rate),
        "--run-time", f"{max(run_time, 1)}s",
        "--stop-timeout", f"{int(spec.request_timeout_s)}s",
        "--csv", str(art.csv_prefix),
        "--csv-full-history",
        "--html", str(art.html),
        "--only-summary",
        "--loglevel", "INFO",
        "--model", endpoint.model,
        "--records", str(art.records),
        "--harness-load", spec.model_dump_json(),
    ]
    if endpoint.api_key_env:
        argv += ["--api-key-env", endpoint.api_key_env]
    if spec.processes > 1:
        argv += ["--processes", str(spec.processes)]
    return argv


class LoadRun:
    """A started Locust subprocess; `finish()` waits and summarises."""

    def __init__(self, spec: LoadSpec, endpoint: Endpoint, folder: Path):
        self.spec = spec
        self.endpoint = endpoint
        self.art = LoadArtifacts.in_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.proc = ManagedProcess(locust_argv(spec, endpoint, self.art), self.art.log, grace_s=spec.request_timeout_s + 10)
        self.started = 0.0
        self.stopped_early = False

    def start(self) -> "LoadRun":
        self.started = time.time()
        self.proc.start()
        return self

    def progress(self) -> str:
        done = sum(1 for p in self.art.record_files() for _ in p.open())
        elapsed = time.time() - self.started
        total = self.spec.warmup_s + self.spec.duration_s
        return f"load {min(elapsed, total):.0f}/{total:.0f}s, {done} requests"

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Stop early (a fault elsewhere); `finish()` still summarises the records written so far."""
        self.stopped_early = True
        self.proc.stop()

    def finish(self, timeout_s: float | None = None) -> LoadResult:
        deadline = self.started + (timeout_s or (self.spec.warmup_s + self.spec.duration_s + self.spec.request_timeout_s + 120))
        while self.proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        code = self.proc.poll()
        self.proc.stop()
        records = read_records(self.art.record_files()) if self.art.record_files() else []
        if code is None:
            raise LoadError(f"Locust did not finish in time; {len(records)} records kept in {self.art.folder}")
        if (code not in (0, 1) and not self.stopped_early) or not records:
            # 1 means "some requests failed", which the records show; anything else is a crash
            raise LoadError(
                f"Locust exited with code {code} after {len(records)} requests; see {self.art.log}:\n"
                + self.proc.log_tail(25)
            )
        t0 = records[0].t_start
        start = t0 + self.spec.warmup_s
        end = start + self.spec.duration_s
        return LoadResult(summarize(records, start, end), records, start, end, code, self.art)
