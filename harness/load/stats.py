"""Performance metrics computed from raw request records (never from Locust's rounded buckets).

Definitions (docs/metrics.md):
- TTFT: request sent -> first chunk with non-empty content.
- TPOT: (e2e - TTFT) / (N - 1), N = completion tokens from the server's usage; undefined for N <= 1.
- ITL: every gap between consecutive content chunks, pooled over requests.
- E2E: request sent -> stream finished.
- Percentiles: linear interpolation between closest ranks (numpy's default, as `vllm bench serve`), over the
  successful requests; `*_censored` ones count the timed-out requests too, at the time they were given up on,
  and `error_rate` / `timeouts` say how many requests the percentiles leave out.
- Window: latencies and error counts are over the requests *started* in [t0 + warm-up, t_end); rates are over the
  window [t0 + warm-up, t_end], cut short where the load ended earlier (harness/load/window.py): output tokens/s
  counts the tokens whose chunk arrived inside it, requests/s the successful requests that ended inside it.
- Goodput: successful requests meeting every SLO set in `load.slo` that ended inside the window, per second of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from harness.facts import (COUNT, FRACTION_DOWN, FRACTION_UP, LOG_SD, LOWER_COUNT, LOWER_MS, PERCENT, PERCENT_DOWN, RATE_UP,
                           SECONDS, TOKENS, TOKENS_UP, Measured, field_facts)
from harness.load.records import RequestRecord
from harness.load.window import activity_end, request_end, split_half_sd, sub_window_tokens
from harness.loadgen.stopping import INTERRUPTED
from harness.spec.load import SLOSpec

PERCENTILES = (50, 90, 95, 99)
INTERRUPTED_KIND = INTERRUPTED.split(":", 1)[0] + ":"


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile of `values` (0 <= p <= 100); NaN for no values."""
    if not values:
        return math.nan
    if not 0 <= p <= 100:
        raise ValueError("p must be within [0, 100]")
    xs = sorted(values)
    if len(xs) == 1:
        return float(xs[0])
    rank = (len(xs) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = math.ceil(rank)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (rank - lo))


@dataclass(frozen=True)
class Distribution:
    """Summary of one latency metric, in milliseconds."""

    count: int
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of_seconds(cls, values: Sequence[float]) -> "Distribution":
        ms = [v * 1000.0 for v in values]
        if not ms:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan, nan)
        return cls(
            count=len(ms),
            mean=sum(ms) / len(ms),
            p50=percentile(ms, 50),
            p90=percentile(ms, 90),
            p95=percentile(ms, 95),
            p99=percentile(ms, 99),
            max=max(ms),
        )


def tpot_s(rec: RequestRecord) -> float | None:
    """Time per output token after the first; None when undefined."""
    n = rec.completion_tokens
    if not rec.ok or rec.ttft_s is None or rec.e2e_s is None or n is None or n <= 1:
        return None
    return (rec.e2e_s - rec.ttft_s) / (n - 1)


def meets_slo(rec: RequestRecord, slo: SLOSpec) -> bool:
    """Succeeded and within every bound set; an undefined TPOT (N <= 1) cannot violate its bound."""
    if not rec.ok:
        return False
    if slo.ttft_ms is not None and (rec.ttft_s is None or rec.ttft_s * 1000 > slo.ttft_ms):
        return False
    if slo.e2e_ms is not None and (rec.e2e_s is None or rec.e2e_s * 1000 > slo.e2e_ms):
        return False
    t = tpot_s(rec)
    return not (slo.tpot_ms is not None and t is not None and t * 1000 > slo.tpot_ms)


def itls_s(rec: RequestRecord) -> list[float]:
    """Gaps between consecutive content chunks of one request."""
    offs = rec.chunk_offsets_s
    return [b - a for a, b in zip(offs, offs[1:])]


@dataclass(frozen=True)
class LoadSummary:
    """Everything the load stage reports for one variant."""

    requests: int = field(metadata=COUNT.meta())
    """Requests started in the measured window."""
    ok: int = field(metadata=COUNT.meta())
    errors: int = field(metadata=LOWER_COUNT.meta())
    error_rate: float = field(metadata=FRACTION_DOWN.meta("error rate"))
    reconnects: int = field(metadata=LOWER_COUNT.meta())
    usage_missing: int = field(metadata=LOWER_COUNT.meta())
    """Successful requests whose stream carried no usage (token metrics exclude them)."""
    window_s: float = field(metadata=SECONDS.meta())
    """The measured window's length: the spec's, or less where the load ended before it (harness/load/window.py)."""
    requests_per_s: float = field(metadata=RATE_UP.meta("req/s"))
    """Successful requests that ended inside the window (whenever they started), per second of it."""
    output_tokens_per_s: float = field(metadata=TOKENS_UP.meta("out tok/s"))
    """Output tokens whose chunk arrived inside the window (a reply's usage tokens spread over its content chunks),
    per second of it: not whole requests, so lockstep waves of closed-loop users do not move it."""
    total_tokens_per_s: float = field(metadata=TOKENS_UP.meta())
    """Output tokens/s plus the prompt tokens of the requests whose first content arrived inside the window, per second."""
    prompt_tokens_mean: float = field(metadata=TOKENS.meta())
    completion_tokens_mean: float = field(metadata=TOKENS.meta())
    ttft_ms: Distribution = field(metadata=LOWER_MS.meta("TTFT"))
    tpot_ms: Distribution = field(metadata=LOWER_MS.meta("TPOT"))
    itl_ms: Distribution = field(metadata=LOWER_MS.meta("ITL"))
    e2e_ms: Distribution = field(metadata=LOWER_MS.meta("E2E"))
    excluded_warmup: int = field(metadata=COUNT.meta())
    prompt_tokens_min: float = field(default=math.nan, metadata=TOKENS.meta())
    """The achieved input lengths (the server's usage, template included): smallest, median, p90, largest."""
    prompt_tokens_p50: float = field(default=math.nan, metadata=TOKENS.meta())
    prompt_tokens_p90: float = field(default=math.nan, metadata=TOKENS.meta())
    prompt_tokens_max: float = field(default=math.nan, metadata=TOKENS.meta())
    prompt_tokens_off_target_rate: float = field(default=math.nan, metadata=FRACTION_DOWN.meta("prompts off target"))
    """Of the first turns with a target length, the share whose usage differs from target + the chat template's
    constant (`target_fit`): 0 with `load.workload.exact_lengths`; NaN without targets."""
    interrupted: int = field(default=0, metadata=COUNT.meta())
    """Requests in flight when the load was stopped (Ctrl-C, a web-UI Stop): recorded with what arrived, left out of
    `requests`, the error rate and every latency (the harness cut them, the server did not fail them)."""
    error_kinds: dict[str, int] = field(default_factory=dict)
    error_examples: dict[str, str] = field(default_factory=dict)
    """error kind -> the first such error's full text (the server's own message), for the one line a failed load prints."""
    goodput_per_s: float = field(default=math.nan, metadata=RATE_UP.meta("goodput/s"))
    """Successful requests/s meeting every SLO set (NaN when no SLO is set)."""
    slo_attainment: float = field(default=math.nan, metadata=FRACTION_UP.meta())
    """Fraction of measured requests (errors included) meeting every SLO (NaN when none is set)."""
    ttfr_ms: Distribution = field(default_factory=lambda: Distribution.of_seconds([]), metadata=LOWER_MS.meta())
    """Time to first reasoning chunk, over requests that streamed reasoning content."""
    send_lag_ms: Distribution = field(default_factory=lambda: Distribution.of_seconds([]), metadata=LOWER_MS.meta())
    """Open loop: actual minus scheduled send time."""
    client_lag_ms: Distribution = field(default_factory=lambda: Distribution.of_seconds([]), metadata=LOWER_MS.meta())
    """The load generator's event-loop lag (a 5 ms timer's oversleep), sampled during the run."""
    chunk_token_diff_pct: float = field(default=math.nan, metadata=PERCENT.meta())
    """(content chunks counted by the client - completion tokens in the server's usage) / usage, in %."""
    client_completion_tokens_mean: float = field(default=math.nan, metadata=TOKENS.meta())
    """Mean tokens per reply by `load.tokenizer`, over successful requests with usage (NaN without a tokenizer)."""
    client_token_diff_pct: float = field(default=math.nan, metadata=PERCENT.meta())
    """(sum of tokens counted by `load.tokenizer` - sum of usage completion tokens) / that usage, in %, over requests having both."""
    client_token_diff_abs_p99: float = field(default=math.nan, metadata=TOKENS.meta())
    """p99 over those requests of |client count - usage completion tokens|, in tokens."""
    tokenizer_error: str | None = None
    """Why the client-side token counts are missing although `load.tokenizer` is set (e.g. no /tokenize)."""
    records_dropped: int = field(default=0, metadata=LOWER_COUNT.meta())
    """Lines of the record files that were not a record (a torn last line, a corrupt one), over the whole run."""
    retry_after_waits: int = field(default=0, metadata=COUNT.meta())
    """429/503 answers whose Retry-After the users honoured (waited before their next request)."""
    backoffs: int = field(default=0, metadata=COUNT.meta())
    """Closed loop: failed requests without a Retry-After after which a user backed off (exponentially, up to 5 s)."""
    timeouts: int = field(default=0, metadata=LOWER_COUNT.meta())
    """Requests that got no complete answer within `load.request_timeout_s` (counted in `errors` too)."""
    timeout_rate: float = field(default=0.0, metadata=FRACTION_DOWN.meta())
    """timeouts / requests."""
    ttft_censored_ms: Distribution = field(default_factory=lambda: Distribution.of_seconds([]), metadata=LOWER_MS.meta())
    """TTFT of the successful requests and of the timed-out ones, these at the time they were given up on when no content
    had come (a right-censored observation): a tail of timeouts shows in its p95/p99, never hidden."""
    e2e_censored_ms: Distribution = field(default_factory=lambda: Distribution.of_seconds([]), metadata=LOWER_MS.meta())
    """E2E of the successful requests and of the timed-out ones, these at the time they were given up on."""
    output_tokens_per_s_split_half_sd: float = field(default=math.nan, metadata=LOG_SD.meta())
    """Within-window noise: the sd of log(first half's out tok/s / second half's), estimated from 8 equal sub-windows
    (2 sd(log sub-window tokens) / sqrt(8); harness/load/window.py); half of it is the window's own log-throughput sd
    (`within_window_sd` of harness/stats/plan.py). NaN when a sub-window holds no token."""
    warmup_s: float = field(default=math.nan, metadata=SECONDS.meta())
    """The warm-up before the window: `load.warmup_s`, or where the rate settled (`load.warmup`)."""
    cached_prompt_tokens_rate: float = field(default=math.nan, metadata=FRACTION_UP.meta("cached prompt share"))
    """Σ cached prompt tokens / Σ prompt tokens over the successful requests whose usage said how many were cached
    (`usage.prompt_tokens_details.cached_tokens`): the share of prompt the server's prefix cache served. NaN when none said."""
    cached_prompt_reported: int = field(default=0, metadata=COUNT.meta())
    """Successful requests whose usage said how many prompt tokens were cached (the rate's sample)."""
    cache_hit_request_rate: float = field(default=math.nan, metadata=FRACTION_UP.meta("cache hits"))
    """Of those, the share that were cache hits: at least CACHE_HIT_SHARE of the prompt served from the cache. NaN when none said."""
    ttft_p50_ms_cache_hit: float = field(default=math.nan, metadata=LOWER_MS.meta("TTFT p50, cache hit"))
    """TTFT p50 of the successful requests that were cache hits (NaN when none was)."""
    ttft_p50_ms_cache_miss: float = field(default=math.nan, metadata=LOWER_MS.meta("TTFT p50, cache miss"))
    """TTFT p50 of the successful requests whose usage said they were not cache hits (NaN when none was)."""
    history_server_reply_rate: float = field(default=math.nan, metadata=FRACTION_UP.meta("server replies resent"))
    """Trace sessions: of the successful later turns, the share whose history resent the server's own reply to the
    turn before (the rest resent seeded stand-ins: the reply went to another process, failed or came too late). NaN
    without a session's later turn."""
    structured_requests: int = field(default=0, metadata=COUNT.meta())
    """Successful structured requests (`load.workload.structured`) whose reply was checked: the invalid rate's sample."""
    invalid_outputs: int = field(default=0, metadata=LOWER_COUNT.meta())
    """Of those, replies that failed the check (not JSON, not the schema, a malformed or unknown tool call)."""
    invalid_output_rate: float = field(default=math.nan, metadata=FRACTION_DOWN.meta("invalid output"))
    """invalid_outputs / structured_requests; NaN without a structured request. The server served them: not errors."""
    invalid_example: str | None = None
    """The first invalid reply's reason, for the screen."""
    ttft_chat_ms: Distribution = field(default_factory=lambda: Distribution.of_seconds([]), metadata=LOWER_MS.meta())
    """TTFT of the plain chat requests, when the load mixes request kinds (`perf/ttft_chat_p50_ms`, ...)."""
    ttft_json_ms: Distribution = field(default_factory=lambda: Distribution.of_seconds([]), metadata=LOWER_MS.meta())
    """TTFT of the JSON-schema requests, when the load mixes request kinds."""
    ttft_tools_ms: Distribution = field(default_factory=lambda: Distribution.of_seconds([]), metadata=LOWER_MS.meta())
    """TTFT of the tool-call requests (the first tool-call piece counts as output), when the load mixes request kinds."""
    tpot_chat_ms: Distribution = field(default_factory=lambda: Distribution.of_seconds([]), metadata=LOWER_MS.meta())
    """TPOT of the plain chat requests, when the load mixes request kinds."""
    tpot_json_ms: Distribution = field(default_factory=lambda: Distribution.of_seconds([]), metadata=LOWER_MS.meta())
    """TPOT of the JSON-schema requests, when the load mixes request kinds."""
    tpot_tools_ms: Distribution = field(default_factory=lambda: Distribution.of_seconds([]), metadata=LOWER_MS.meta())
    """TPOT of the tool-call requests, when the load mixes request kinds."""
    host_steal_pct: float = field(default=math.nan, metadata=PERCENT_DOWN.meta("CPU steal"))
    """CPU time the hypervisor gave other guests during the load, in % of this host's CPU time (/proc/stat; NaN
    where unreadable): a noisy neighbour (harness/load/noise.py)."""

    def flat_metrics(self, prefix: str = "perf/") -> dict[str, float]:
        """`perf/ttft_p95_ms`-style names for tracking (NaN values dropped), each value carrying its field's fact
        (a distribution's statistics share it; its count is not logged)."""
        facts = field_facts(type(self))
        out: dict[str, float] = {}
        for key, value in asdict(self).items():
            if isinstance(value, dict) and key.endswith("_ms"):
                base = key[: -len("_ms")]
                for stat, v in value.items():
                    if stat != "count":
                        fact = facts.get(key)
                        out[f"{prefix}{base}_{stat}_ms"] = Measured(v, fact.stat(stat) if fact else None)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                out[prefix + key] = Measured(value, facts.get(key))  # no fact: the contract's test names the field
        return {k: v for k, v in out.items() if not math.isnan(v)}


def _client_token_stats(with_usage: Sequence[RequestRecord]) -> dict[str, float]:
    """Client-side token counts against usage, over records having both."""
    pairs = [(r.client_completion_tokens, r.completion_tokens or 0) for r in with_usage if r.client_completion_tokens is not None]
    client = sum(c for c, _ in pairs)
    usage = sum(u for _, u in pairs)
    return {
        "client_completion_tokens_mean": client / len(pairs) if pairs else math.nan,
        "client_token_diff_pct": 100.0 * (client - usage) / usage if usage else math.nan,
        "client_token_diff_abs_p99": percentile([abs(c - u) for c, u in pairs], 99),
    }


CACHE_HIT_SHARE = 0.5
"""A request is a cache hit when the server served at least this share of its prompt from its cache: llama.cpp reuses a
slot's common prefix, so a cold prompt still reports a few cached tokens (its chat template's first ones)."""


def _prompt_length_stats(with_usage: Sequence[RequestRecord]) -> dict[str, float]:
    """The achieved input-length distribution, and how often a prompt missed its target (by more than the template)."""
    lengths = [float(r.prompt_tokens) for r in with_usage if r.prompt_tokens is not None]
    if not lengths:
        return {}
    out = {"prompt_tokens_min": min(lengths), "prompt_tokens_p50": percentile(lengths, 50),
           "prompt_tokens_p90": percentile(lengths, 90), "prompt_tokens_max": max(lengths)}
    fit = target_fit(with_usage)
    if fit is not None:
        requests, _, exact, _ = fit
        out["prompt_tokens_off_target_rate"] = (requests - exact) / requests
    return out


def targeted_first_turns(records: Sequence[RequestRecord]) -> list[RequestRecord]:
    """The first-turn requests with a target length and a usage: the ones whose length can be held to its target
    (later turns carry a history the target does not count)."""
    return [r for r in records if r.prompt_tokens is not None and r.prompt_tokens_target and r.turn == 0]


def target_fit(records: Sequence[RequestRecord]) -> tuple[int, int, int, int] | None:
    """How close first-turn prompts came to their target length (`targeted_first_turns`): (requests, the chat
    template's tokens = the smallest usage - target, how many are exactly target + template, the largest extra beyond
    that); None without a target and a usage."""
    diffs = sorted(r.prompt_tokens - r.prompt_tokens_target for r in targeted_first_turns(records))
    if not diffs:
        return None
    return len(diffs), diffs[0], sum(d == diffs[0] for d in diffs), diffs[-1] - diffs[0]


def _share(flags: Sequence[bool]) -> float:
    """The share of True among `flags`; NaN when there are none."""
    return sum(flags) / len(flags) if flags else math.nan


def _cached_prompt_stats(with_usage: Sequence[RequestRecord]) -> dict[str, float]:
    """The share of prompt tokens served from the server's cache, over requests whose usage said, and TTFT p50 of the
    cache hits against the misses (docs/metrics.md)."""
    said = [r for r in with_usage if r.cached_prompt_tokens is not None and r.prompt_tokens]
    prompt = sum(r.prompt_tokens or 0 for r in said)
    hits = [r for r in said if (r.cached_prompt_tokens or 0) >= CACHE_HIT_SHARE * (r.prompt_tokens or 0)]
    misses = [r for r in said if (r.cached_prompt_tokens or 0) < CACHE_HIT_SHARE * (r.prompt_tokens or 0)]

    def ttft_p50(rs: list[RequestRecord]) -> float:
        return percentile([r.ttft_s * 1000.0 for r in rs if r.ttft_s is not None], 50)

    return {"cached_prompt_tokens_rate": sum(r.cached_prompt_tokens or 0 for r in said) / prompt if prompt else math.nan,
            "cached_prompt_reported": len(said),
            "cache_hit_request_rate": len(hits) / len(said) if said else math.nan,
            "ttft_p50_ms_cache_hit": ttft_p50(hits), "ttft_p50_ms_cache_miss": ttft_p50(misses)}


KIND_SPLIT = ("chat", "json", "tools")
"""Request kinds whose TTFT/TPOT are logged apart when a load mixes kinds (`perf/ttft_json_p50_ms`, ...)."""


def _structured_stats(ok: Sequence[RequestRecord]) -> dict[str, object]:
    """Structured replies checked and found invalid, and TTFT/TPOT per request kind when the load mixes kinds."""
    checked = [r for r in ok if r.output_valid is not None]
    invalid = [r for r in checked if not r.output_valid]
    out: dict[str, object] = {"structured_requests": len(checked), "invalid_outputs": len(invalid),
                              "invalid_output_rate": len(invalid) / len(checked) if checked else math.nan,
                              "invalid_example": next((r.invalid_reason for r in invalid if r.invalid_reason), None)}
    if len({r.kind for r in ok}) > 1:
        for kind in KIND_SPLIT:
            of_kind = [r for r in ok if r.kind == kind]
            out[f"ttft_{kind}_ms"] = Distribution.of_seconds([r.ttft_s for r in of_kind if r.ttft_s is not None])
            out[f"tpot_{kind}_ms"] = Distribution.of_seconds([t for r in of_kind if (t := tpot_s(r)) is not None])
    return out


def cut_by_stop(rec: RequestRecord) -> bool:
    """A request in flight when the load was stopped (harness/loadgen/stopping.py): not a server error, not measured."""
    return not rec.ok and (rec.error or "").startswith(INTERRUPTED_KIND)


def _error_kind(err: str | None) -> str:
    if not err:
        return "unknown"
    return err.split(":", 1)[0][:60]


def summarize(
    records: Sequence[RequestRecord], window_start: float | None = None, window_end: float | None = None, slo: SLOSpec | None = None
) -> LoadSummary:
    """Summarise records started within [window_start, window_end)."""
    lo = -math.inf if window_start is None else window_start
    hi = math.inf if window_end is None else window_end
    started = [r for r in records if lo <= r.t_start < hi]
    # a request the harness itself cut (a stop: Ctrl-C, the end of a web-UI test) says nothing of the server
    measured = [r for r in started if not cut_by_stop(r)]
    excluded = sum(1 for r in records if r.t_start < lo)
    ok = [r for r in measured if r.ok]
    errors = [r for r in measured if not r.ok]
    timed_out = [r for r in errors if r.timed_out]
    with_usage = [r for r in ok if r.completion_tokens is not None]
    if measured:
        start = measured[0].t_start if window_start is None else window_start
        end = min(hi, activity_end(records, hi) or hi)
        window_s = max(end - start, 1e-9)
    else:
        start = end = 0.0
        window_s = 0.0
    out_tokens = sum(r.completion_tokens or 0 for r in with_usage)
    in_tokens = sum(r.prompt_tokens or 0 for r in with_usage)
    # rates: whatever happened inside [start, end], whichever request it belongs to (harness/load/window.py)
    done_inside = [r for r in records if r.ok and not cut_by_stop(r) and start <= request_end(r) <= end] if measured else []
    per_sub = sub_window_tokens(records, start, end) if measured else []
    tokens_inside = sum(per_sub)
    prompts_inside = sum(r.prompt_tokens or 0 for r in records if r.ok and r.completion_tokens is not None and measured
                         and start <= r.t_start + (r.ttft_s if r.ttft_s is not None else r.e2e_s or 0.0) <= end)
    kinds: dict[str, int] = {}
    examples: dict[str, str] = {}
    for r in errors:
        kind = _error_kind(r.error)
        kinds[kind] = kinds.get(kind, 0) + 1
        examples.setdefault(kind, (r.error or "no error text")[:300])

    def rate(x: float) -> float:
        return x / window_s if window_s > 0 else 0.0

    has_slo = slo is not None and any(v is not None for v in (slo.ttft_ms, slo.tpot_ms, slo.e2e_ms))
    good = sum(1 for r in ok if meets_slo(r, slo)) if has_slo and slo is not None else 0
    good_inside = sum(1 for r in done_inside if meets_slo(r, slo)) if has_slo and slo is not None else 0
    chunks = sum(len(r.chunk_offsets_s) for r in with_usage)

    return LoadSummary(
        requests=len(measured),
        ok=len(ok),
        errors=len(errors),
        error_rate=len(errors) / len(measured) if measured else 0.0,
        reconnects=sum(1 for r in measured if r.reconnected),
        usage_missing=len(ok) - len(with_usage),
        window_s=window_s,
        requests_per_s=rate(len(done_inside)),
        output_tokens_per_s=rate(tokens_inside),
        total_tokens_per_s=rate(tokens_inside + prompts_inside),
        prompt_tokens_mean=in_tokens / len(with_usage) if with_usage else math.nan,
        completion_tokens_mean=out_tokens / len(with_usage) if with_usage else math.nan,
        ttft_ms=Distribution.of_seconds([r.ttft_s for r in ok if r.ttft_s is not None]),
        tpot_ms=Distribution.of_seconds([t for r in ok if (t := tpot_s(r)) is not None]),
        itl_ms=Distribution.of_seconds([g for r in ok for g in itls_s(r)]),
        e2e_ms=Distribution.of_seconds([r.e2e_s for r in ok if r.e2e_s is not None]),
        excluded_warmup=excluded,
        interrupted=len(started) - len(measured),
        error_kinds=kinds,
        error_examples=examples,
        goodput_per_s=rate(good_inside) if has_slo else math.nan,
        slo_attainment=(good / len(measured) if measured else math.nan) if has_slo else math.nan,
        ttfr_ms=Distribution.of_seconds([r.first_reasoning_s for r in ok if r.first_reasoning_s is not None]),
        send_lag_ms=Distribution.of_seconds([r.send_lag_s for r in measured if r.send_lag_s is not None]),
        chunk_token_diff_pct=100.0 * (chunks - out_tokens) / out_tokens if out_tokens else math.nan,
        retry_after_waits=sum(1 for r in measured if r.retry_after_s is not None),
        backoffs=sum(1 for r in measured if r.backoff_s is not None),
        timeouts=len(timed_out),
        timeout_rate=len(timed_out) / len(measured) if measured else 0.0,
        ttft_censored_ms=Distribution.of_seconds(
            [r.ttft_s for r in ok if r.ttft_s is not None] + [r.ttft_s if r.ttft_s is not None else r.e2e_s or 0.0 for r in timed_out]),
        e2e_censored_ms=Distribution.of_seconds([r.e2e_s for r in ok if r.e2e_s is not None] + [r.e2e_s or 0.0 for r in timed_out]),
        output_tokens_per_s_split_half_sd=split_half_sd(per_sub),
        **_client_token_stats(with_usage),
        **_prompt_length_stats(with_usage),
        **_cached_prompt_stats(with_usage),
        **_structured_stats(ok),  # type: ignore[arg-type]
        history_server_reply_rate=_share([r.history == "server" for r in ok if r.history is not None]),
    )
