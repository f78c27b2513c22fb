"""The `load` section: load pattern, workload, SLOs, rate scans, capacity search, request count (docs/metrics.md)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from harness.spec.base import SpecDeprecation, Strict
from harness.spec.capacity import MAX_RATE, MAX_REQUESTS, REQUESTS_CAP_S, CapacitySearchSpec, check_capacity, check_requests
from harness.spec.load_dist import LengthDist
from harness.spec.workload import WorkloadSpec

__all__ = ["LengthDist", "LoadSpec", "TLSSpec", "WorkloadSpec"]

# sane upper bounds: beyond them a spec is a typo, not a plan
MAX_DURATION_S = 7 * 86400.0
MAX_TIMEOUT_S = 86400.0
MAX_USERS = 100_000
MAX_PROCESSES = 256


def _dist(mean: int, stdev: int, lo: int, hi: int) -> dict[str, Any]:
    return {"kind": "normal", "mean": mean, "stdev": stdev, "min": lo, "max": hi}


PRESETS: dict[str, dict[str, Any]] = {
    "chat-short": {"prompt_tokens": _dist(128, 32, 32, 256), "output_tokens": _dist(128, 32, 32, 256)},
    "chat-medium": {"prompt_tokens": _dist(512, 128, 128, 1024), "output_tokens": _dist(256, 64, 64, 512)},
    "chat-long": {"prompt_tokens": _dist(2048, 512, 512, 4096), "output_tokens": _dist(512, 128, 128, 1024)},
    "rag": {"prompt_tokens": _dist(4096, 1024, 1024, 8192), "output_tokens": _dist(128, 32, 32, 256), "prompt_kind": "document_qa"},
}
"""Workload presets: the lengths (in tokens) they set unless the spec sets them itself."""

_HF_TOKENIZER = re.compile(r"hf:(//)?[\w.-]+/[\w.-]+")


def _tokenizer_value(v: str, field: str = "") -> str:
    """A tokenizer named in the spec (`load.tokenizer`, `load.workload.exact_lengths`): `server`, hf:ORG/NAME or a local file.
    `field`: a prefix naming the field for errors pydantic does not locate itself (e.g. "load.workload.exact_lengths: ")."""
    if v == "server":
        return v
    if v.startswith("hf:"):
        if not _HF_TOKENIZER.fullmatch(v):
            raise ValueError(f"{field}{v!r} is not a Hub repository; write hf:ORG/NAME, e.g. hf:HuggingFaceTB/SmolLM2-135M-Instruct")
        return v
    path = Path(v).expanduser()
    if path.is_dir() and not (path / "tokenizer.json").is_file():
        raise ValueError(f"{field}folder {v!r} holds no tokenizer.json; point at the file itself, a .gguf file, `server` or hf:ORG/NAME")
    if path.is_file() and path.suffix not in (".json", ".gguf"):
        raise ValueError(f"{field}{v!r} is neither a tokenizer.json nor a .gguf file; use one of those, `server` or hf:ORG/NAME")
    if not path.exists():
        raise ValueError(
            f"{field}{v!r} is not `server`, hf:ORG/NAME or an existing tokenizer.json / folder / .gguf path "
            "(paths are relative to the working directory)"
        )
    return v


class SLOSpec(Strict):
    """Service-level objectives: a request meets them when it succeeded and every set bound holds."""

    ttft_ms: float | None = Field(None, gt=0, description="Bound on TTFT in ms; None = no TTFT objective.")
    tpot_ms: float | None = Field(None, gt=0, description="Bound on TPOT in ms; None = none. A request with undefined TPOT (N <= 1) meets it.")
    e2e_ms: float | None = Field(None, gt=0, description="Bound on end-to-end latency in ms; None = none.")
    min_attainment: float = Field(0.9, gt=0, le=1, description="Rate scan and capacity search: a load point passes when at least this fraction of its requests meet every SLO.")
    max_error_rate: float = Field(0.01, ge=0, le=1, description="Rate scan and capacity search: a load point passes only when its error rate is at most this.")


class LoadStep(Strict):
    """One step of pattern=steps: either a user count (closed loop, via a Locust LoadTestShape) or an arrival rate."""

    duration_s: float = Field(..., gt=0, le=MAX_DURATION_S, description="How long this step lasts (at most 7 days).")
    users: int | None = Field(None, ge=1, le=MAX_USERS, description="Concurrent users during this step (closed loop).")
    rate: float | None = Field(None, gt=0, le=MAX_RATE, description="Requests per second during this step (open loop, `load.users` is the pool of senders).")
    spawn_rate: float | None = Field(None, gt=0, description="Users started (or stopped) per second when entering this step; a slow value makes a ramp. None = `load.spawn_rate`.")

    @model_validator(mode="after")
    def _one(self) -> "LoadStep":
        if (self.users is None) == (self.rate is None):
            raise ValueError("set exactly one of `users` (closed loop) or `rate` (open loop) per step")
        return self


class BurstSpec(Strict):
    """pattern=burst: `size` requests released together every `every_s` seconds."""

    size: int = Field(..., ge=1, le=MAX_USERS, description="Requests released at once (needs `load.users` >= size to send them together).")
    every_s: float = Field(..., gt=0, description="Seconds between bursts.")


class DatasetSpec(Strict):
    """Prompts from a JSONL file instead of synthetic text."""

    path: str = Field(..., description="JSONL file; each line `{\"messages\": [{role, content}, ...]}` (OpenAI) or `{\"conversations\": [{from, value}, ...]}` (ShareGPT).")
    format: Literal["auto", "openai", "sharegpt"] = Field("auto", description="Line format; auto = detect per line from its keys.")
    shuffle: bool = Field(True, description="Visit the lines in a seeded random order (per user) rather than file order.")
    output_lengths: Literal["spec", "data"] = Field(
        "spec",
        description="Where a request's `max_tokens` comes from. spec: `load.output_tokens`; data: the length of the line's own "
        "assistant reply that follows its last user message, estimated as ceil(words x 4/3) tokens (lines without one fall back "
        "to `load.output_tokens`); with `load.ignore_eos` the server generates exactly that many.",
    )

    @field_validator("path")
    @classmethod
    def _exists(cls, v: str) -> str:
        if not Path(v).is_file():
            raise ValueError(f"dataset file {v!r} does not exist (paths are relative to the working directory)")
        return v


class RateScanSpec(Strict):
    """Several load points per variant, run one after another; the highest one meeting `load.slo` is reported."""

    points: list[float] = Field(..., min_length=1, description="Load points in increasing order: requests/s for pattern constant/poisson, users for closed.")

    @model_validator(mode="after")
    def _ordered(self) -> "RateScanSpec":
        if any(p <= 0 for p in self.points):
            raise ValueError("points must be > 0")
        if sorted(self.points) != self.points or len(set(self.points)) != len(self.points):
            raise ValueError("points must be strictly increasing, e.g. [1, 4, 16, 64]")
        return self


class DistributedSpec(Strict):
    """Locust master/worker across machines (`load.processes` covers several processes on one machine)."""

    role: Literal["local", "master", "worker"] = Field(
        "local",
        description="local: one machine; master: a Locust master that runs no users, waits for `expect_workers` worker processes "
        "(started on other machines with `harness worker --master HOST:PORT`) and merges the records they relay; "
        "worker: not valid in a spec (workers take everything from the master; run `harness worker`).",
    )
    master_host: str = Field("127.0.0.1", description="Role master: the interface the master binds to; 0.0.0.0 (or `*`) accepts workers from other machines.")
    master_port: int = Field(5557, ge=1, le=65535, description="Master port (Locust's default 5557); workers connect to it.")
    expect_workers: int = Field(1, ge=1, le=MAX_PROCESSES, description="Role master: worker processes to wait for before starting (each `harness worker --processes N` counts N).")
    wait_for_workers_s: int = Field(300, ge=1, le=int(MAX_TIMEOUT_S), description="Role master: give up (the load stage fails) when fewer than `expect_workers` have connected after this long.")
    server_host: str | None = Field(
        None,
        description="Role master: the server's host name or address as the worker machines reach it; it replaces the host of the "
        "endpoint URL sent to the workers (scheme and port stay). None = the endpoint URL as the master uses it, e.g. "
        "http://127.0.0.1:PORT for a launched server, which workers on other machines cannot reach.",
    )

    @model_validator(mode="after")
    def _no_worker(self) -> "DistributedSpec":
        if self.role == "worker":
            raise ValueError(
                "role: worker is not run from a spec: give the master's spec role: master and on each worker machine run "
                "`harness worker --master HOST:PORT` (it takes the workload, host and model from the master)"
            )
        return self


class WarmupSpec(Strict):
    """Warm-up that lasts until the rate settles: the measured window starts at the first settled point."""

    until_settled: bool = Field(True, description="Start the measured window once the output-token rate has settled (false = the fixed `warmup_s`).")
    max_s: float = Field(60.0, gt=0, le=MAX_DURATION_S, description="Longest warm-up in seconds: a rate not settled by then starts the window here anyway, with a warning. The run lasts max_s + duration_s.")
    tolerance: float = Field(0.05, gt=0, lt=1, description="Settled: each of `windows` consecutive sub-windows' output tokens/s lies within +-tolerance (relative) of their mean.")
    sub_window_s: float = Field(2.0, gt=0, le=600, description="Length of each sub-window, in seconds.")
    windows: int = Field(3, ge=2, le=100, description="Consecutive sub-windows that must agree.")


class CpuAffinity(Strict):
    """Keep the load generator off the cores of a server the harness launched on this host."""

    mode: Literal["auto", "off"] = Field(
        "auto",
        description="auto: with at least 4 usable cores, the Locust process(es) run on the last max(1, cores // 8) of them and a "
        "launched server on the rest; fewer cores, or an attached server, leave both unpinned (said once in the log). off: never pin.",
    )


class TLSSpec(Strict):
    """How the load generator checks an https:// endpoint's certificate (both transports alike)."""

    verify: bool = Field(
        True,
        description="Verify the server's certificate chain and its host name (SNI and hostname checking as any client does). "
        "false: accept any certificate (a self-signed test server), with a warning on screen; the traffic is still encrypted.",
    )
    ca_file: str | None = Field(
        None,
        description="PEM file of the CA (or the self-signed certificate itself) that signed the server's certificate, trusted "
        "instead of the system CA store: a private CA or a self-signed server. None = the system CA store (SSL_CERT_FILE / "
        "SSL_CERT_DIR override it, as for OpenSSL). Paths are relative to the working directory.",
    )

    @field_validator("ca_file")
    @classmethod
    def _exists(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).expanduser().is_file():
            raise ValueError(f"CA file {v!r} does not exist (paths are relative to the working directory)")
        return v

    @model_validator(mode="after")
    def _insecure(self) -> "TLSSpec":
        if not self.verify:
            if self.ca_file is not None:
                raise ValueError("tls.ca_file is only read when verify is true: drop ca_file, or set verify: true")
            warnings.warn("load.tls.verify is false: server certificates are not checked (anyone on the path can pose as the server)",
                          UserWarning, stacklevel=2)
        return self


class LoadSpec(Strict):
    """The Locust chat workload run against the endpoint."""

    enabled: bool = Field(True, description="Run the load test at all.")
    locustfile: str | None = Field(None, description="Locustfile to run; None = the bundled `harness/loadgen/locustfiles/chat.py` (or `chat_steps.py` for closed-loop steps).")
    pattern: Literal["closed", "constant", "poisson", "steps", "burst", "trace"] = Field(
        "closed",
        description="closed: `users` send back to back; constant / poisson: open loop at `rate` req/s (evenly spaced or Poisson arrivals) "
        "from one pacer shared by all users and processes; steps: `steps`; burst: `burst`; trace: the arrival times of `workload.trace`.",
    )
    users: int = Field(4, ge=1, le=MAX_USERS, description="Concurrent simulated users (closed loop); for open-loop patterns the pool of senders, i.e. the most requests in flight.")
    rate: float | None = Field(None, gt=0, le=MAX_RATE, description="Requests per second for pattern constant / poisson.")
    steps: list[LoadStep] = Field(default_factory=list, description="pattern=steps: consecutive steps, all by `users` or all by `rate`; the run lasts their total.")
    step_arrivals: Literal["constant", "poisson"] = Field("poisson", description="Arrival process of rate steps.")
    burst: BurstSpec | None = Field(None, description="pattern=burst: the bursts.")
    spawn_rate: float = Field(4.0, gt=0, description="Users started per second (closed loop); open-loop patterns start the whole pool at once.")
    duration_s: float = Field(
        60.0, gt=0, le=MAX_DURATION_S,
        description="Measured duration in seconds (after warm-up); ignored for pattern=steps, whose steps' total sets the run length; "
        "with `requests`, only a safety cap on the run (default then an hour).",
    )
    warmup_s: float = Field(5.0, ge=0, le=MAX_DURATION_S, description="Seconds at the start whose requests are excluded from metrics (with `warmup`, the shortest warm-up).")
    warmup: WarmupSpec | None = Field(
        None,
        description="Warm-up until the rate settles rather than a fixed time: the run lasts `warmup.max_s` + `duration_s` and the "
        "measured window (`duration_s` long) starts at the first point after `warmup_s` where the output-token rate has settled "
        "(decided on the records after the run; logged as perf/warmup_s). None = the fixed `warmup_s`. Not with pattern=steps or `requests`.",
    )
    cpu_affinity: CpuAffinity = Field(default_factory=CpuAffinity, description="CPU affinity of the load generator against a launched server's cores.")
    slo: SLOSpec = Field(default_factory=SLOSpec, description="Service-level objectives for goodput, the rate scan and the capacity search.")
    rate_scan: RateScanSpec | None = Field(
        None, description="Rate scan within one variant: run each load point (warm-up + duration each) and find the highest meeting `slo`. "
        "(Formerly `sweep`, which still works with a deprecation warning.)"
    )
    capacity: CapacitySearchSpec | None = Field(
        None, description="Capacity at SLO within one variant: search the highest rate (or users) meeting `slo` by bracketing and bisecting, "
        "each point a full load run (warm-up + duration, or `requests`); logged as perf/capacity_rps_at_slo (or _users_) with its interval. "
        "An alternative to `rate_scan`.",
    )
    requests: int | None = Field(
        None, ge=1, le=MAX_REQUESTS,
        description="Fixed request count (like `vllm bench serve --num-prompts`): the run ends as soon as this many requests, counted over "
        "all users and processes (open loop: the schedule's first N arrivals), have been sent and have finished. Warm-up requests count "
        "towards N (they are sent, not measured); with `requests`, `warmup_s` defaults to 0 as in vLLM's count, and `duration_s` is only a "
        f"safety cap (default {REQUESTS_CAP_S:.0f} s): a run that reaches it ends with fewer requests, reported as a failure. None = time-based.",
    )
    preset: Literal["chat-short", "chat-medium", "chat-long", "rag"] | None = Field(
        None, description="Workload preset: sets `prompt_tokens`, `output_tokens` (and `prompt_kind` for rag) unless given; see docs/metrics.md."
    )
    prompt_kind: Literal["chat", "document_qa"] = Field("chat", description="Synthetic prompt shape: chat (words + an instruction) or document_qa (a long document + a question, RAG-like).")
    prompt_tokens: LengthDist = Field(default_factory=lambda: LengthDist(kind="uniform", mean=128, min=64, max=192), description="Prompt length distribution (synthetic prompts; per turn for multi-turn).")
    output_tokens: LengthDist = Field(default_factory=lambda: LengthDist(kind="fixed", mean=64, min=1, max=64), description="Output length distribution, sent as max_tokens.")
    system_prompt_tokens: int = Field(0, ge=0, description="Length of one seeded system prompt shared by every request (exercises prefix caching); 0 = none.")
    turns: int = Field(1, ge=1, description="Turns per conversation: each turn resends the history (previous prompts and replies) plus a new user message.")
    dataset: DatasetSpec | None = Field(None, description="Take prompts from a JSONL file instead of synthetic text.")
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec, description="Workloads beyond synthetic chats: trace replay, prefix pools, agentic sessions, structured output, exact prompt lengths (docs/workloads.md).")
    ignore_eos: bool = Field(False, description="Ask the server to ignore EOS so outputs reach max_tokens (llama.cpp and vLLM support it); recorded per request.")
    min_tokens: int | None = Field(None, ge=1, description="Send `min_tokens` (vLLM supports it; llama.cpp ignores it); recorded per request.")
    temperature: float = Field(0.0, ge=0, description="Sampling temperature of load requests.")
    seed: int = Field(0, description="Seed for prompts, lengths and arrival times.")
    reuse_connections: bool = Field(
        False,
        description="Keep HTTP connections alive between requests. Off by default: llama-server closes the "
        "connection after a streamed response; with it on, a request that fails on a stale pooled connection "
        "is retried once on a fresh one and counted as a reconnect.",
    )
    request_timeout_s: float = Field(120.0, gt=0, le=MAX_TIMEOUT_S, description="Per-request timeout (at most a day).")
    max_error_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="The load stage fails (the variant is FAILED, exit 2) when more than this fraction of the requests started "
        "in the measured window failed (HTTP errors, error bodies, SSE error events, timeouts, broken streams), and always "
        "when none succeeded; 0 = no error allowed. Rate scans and capacity searches judge each point by `slo.max_error_rate` instead.",
    )
    http_client: Literal["auto", "reactor", "requests"] = Field(
        "auto",
        description="How the load generator reads streams. reactor: one epoll reader per process stamps every "
        "chunk as it is read, over http:// and https:// alike (thousands of streams per process; ignores proxy variables); "
        "requests: urllib3 per user (proxies; slower per chunk, so timestamps lag sooner under load); "
        "auto: the reactor for http:// and https:// (set requests to go through a proxy). Both honour `tls`.",
    )
    tls: TLSSpec = Field(default_factory=TLSSpec, description="https:// endpoints: certificate verification and a private CA (docs/workloads.md, TLS endpoints).")
    processes: int = Field(1, ge=1, le=MAX_PROCESSES, description="Locust worker processes on this machine (1 = a single process; at most 256).")
    distributed: DistributedSpec = Field(default_factory=DistributedSpec, description="Master/worker across machines.")
    tokenizer: str | None = Field(
        None,
        description="Count each reply's tokens on the client too, after the run, and report how far they differ from the server's usage "
        "(`perf/client_token_diff_pct`): `server` (the server's own POST /tokenize, llama.cpp or vLLM), a `tokenizer.json` file or a "
        "folder holding one, a `.gguf` file (its gpt2-style BPE vocabulary), or `hf:ORG/NAME` (downloads tokenizer.json; needs the "
        "Hub). None = no client-side token counts (replies are then not kept).",
    )

    @field_validator("tokenizer")
    @classmethod
    def _tokenizer(cls, v: str | None) -> str | None:
        return None if v is None else _tokenizer_value(v)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and "sweep" in data:  # the old name of rate_scan
            if "rate_scan" in data:
                raise ValueError("`sweep` is the deprecated name of `rate_scan`: give only `rate_scan`")
            warnings.warn("load.sweep is deprecated: rename it to load.rate_scan (same fields)", SpecDeprecation, stacklevel=2)
            data = {("rate_scan" if k == "sweep" else k): v for k, v in data.items()}
        if isinstance(data, dict) and data.get("requests") is not None:  # a count: no warm-up, the duration only a cap
            data = {"warmup_s": 0.0, "duration_s": REQUESTS_CAP_S, **data}
        if isinstance(data, dict) and data.get("preset") in PRESETS:
            data = {**PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _pattern(self) -> "LoadSpec":
        p = self.pattern
        if p in ("constant", "poisson") and self.rate is None and self.rate_scan is None and self.capacity is None:
            raise ValueError(f"pattern={p} needs `rate` (requests per second), e.g. rate: 4")
        if p not in ("constant", "poisson") and self.rate is not None:
            raise ValueError(f"`rate` is used by pattern constant/poisson only (pattern is {p}); use steps[].rate for steps")
        if p == "steps":
            if not self.steps:
                raise ValueError("pattern=steps needs `steps`, e.g. [{duration_s: 30, users: 2}, {duration_s: 30, users: 8}]")
            if len({s.users is None for s in self.steps}) > 1:
                raise ValueError("steps must all set `users` or all set `rate`, not a mix")
            if sum(s.duration_s for s in self.steps) <= self.warmup_s:
                raise ValueError("the steps' total duration must exceed `warmup_s`")
        elif self.steps:
            raise ValueError(f"`steps` is used by pattern=steps only (pattern is {p})")
        if p == "burst":
            if self.burst is None:
                raise ValueError("pattern=burst needs `burst: {size: N, every_s: S}`")
            if self.users < self.burst.size:
                raise ValueError(f"burst.size ({self.burst.size}) exceeds users ({self.users}): set users >= burst.size so a burst goes out at once")
        elif self.burst is not None:
            raise ValueError(f"`burst` is used by pattern=burst only (pattern is {p})")
        if self.rate_scan is not None:
            if p in ("steps", "burst"):
                raise ValueError("a rate scan needs pattern closed (points = users) or constant/poisson (points = requests/s)")
            if p == "closed" and any(x != int(x) for x in self.rate_scan.points):
                raise ValueError("pattern=closed: rate_scan points are user counts and must be whole numbers")
        if self.warmup is not None and self.warmup.until_settled:
            if p == "steps" or self.requests is not None:
                raise ValueError("`warmup` (until settled) needs a time-based load: not pattern=steps nor `requests`")
            if self.warmup.max_s < self.warmup_s + self.warmup.windows * self.warmup.sub_window_s:
                raise ValueError(f"warmup.max_s ({self.warmup.max_s:g}) leaves no room to settle: make it at least warmup_s + "
                                 "windows x sub_window_s")
        check_capacity(self)
        check_requests(self)
        if self.dataset is not None and (self.turns > 1 or self.system_prompt_tokens or self.preset == "rag"):
            raise ValueError("`dataset` supplies whole conversations: leave turns=1, system_prompt_tokens=0 and preset unset")
        self._check_workload()
        if self.distributed.role != "local" and self.processes > 1:
            raise ValueError(
                "use either `processes` (one machine) or `distributed` (master/worker), not both: a master runs no users; "
                "start several processes per worker machine with `harness worker --processes N` and count them in expect_workers"
            )
        return self

    def _check_workload(self) -> None:
        w = self.workload
        if (self.pattern == "trace") != (w.trace is not None):
            raise ValueError("pattern: trace and workload.trace go together: the trace's arrival times are the schedule")
        if w.source is not None and self.dataset is not None:
            raise ValueError(f"workload.{w.source} and `dataset` are both prompt sources: give one")
        if w.source is not None and self.turns > 1:
            raise ValueError(f"workload.{w.source} sets its own turns: leave load.turns at 1 (agentic: workload.agentic.turns)")
        if w.exact_lengths is not None:
            _tokenizer_value(w.exact_lengths, "load.workload.exact_lengths: ")
            if self.dataset is not None or self.prompt_kind == "document_qa":
                raise ValueError("load.workload.exact_lengths fits synthetic chat prompts (words + an instruction): not a `dataset`, "
                                 "nor prompt_kind document_qa, whose sentences do not add up token by token")
        if self.pattern == "trace" and (self.rate_scan is not None or self.capacity is not None):
            raise ValueError("a trace replays its own arrival times: no rate_scan or capacity search (scale it with workload.trace.speedup)")

    @property
    def open_loop(self) -> bool:
        """Requests are sent on a schedule (pacer) rather than back to back."""
        return self.pattern in ("constant", "poisson", "burst", "trace") or (self.pattern == "steps" and self.steps[0].rate is not None)

    @property
    def shaped(self) -> bool:
        """Closed-loop steps: the user count follows a Locust LoadTestShape."""
        return self.pattern == "steps" and self.steps[0].users is not None

    @property
    def settles(self) -> bool:
        """The warm-up lasts until the rate settles (`warmup.until_settled`)."""
        return self.warmup is not None and self.warmup.until_settled

    def run_s(self) -> float:
        """Total run length including warm-up (the longest warm-up when it lasts until the rate settles)."""
        if self.pattern == "steps":
            return sum(s.duration_s for s in self.steps)
        return (self.warmup.max_s if self.warmup is not None and self.settles else self.warmup_s) + self.duration_s

    def measured_s(self) -> float:
        if self.settles:
            return self.duration_s
        return self.run_s() - self.warmup_s

    def at_point(self, point: float) -> "LoadSpec":
        """This spec at one scan point (rate for open loop, users for closed), without the scan or capacity search."""
        data = self.model_dump()
        data["rate_scan"] = None
        data["capacity"] = None
        if self.pattern == "closed":
            data["users"] = int(point)
        else:
            data["rate"] = point
        return LoadSpec.model_validate(data)
