"""Scrape and summarise a server's Prometheus /metrics.

Raw scrapes go to disk (JSONL, one scrape a line) as they are taken; the summary turns
counters into deltas over the measured window, gauges into time series (mean, max) and
histograms into window deltas with bucket-interpolated quantiles.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.facts import COUNT, Measured, MetricFact
from harness.server.metric_names import COUNTERS, FACTS, GAUGES, HISTOGRAM_QUANTILES, HISTOGRAMS
from harness.stage import Progress, SeriesPoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scrape:
    """One /metrics scrape: wall time and sample values summed over label sets."""

    t: float
    samples: dict[str, float]
    buckets: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """histogram base name -> sorted (le, cumulative count), summed over label sets."""


def parse_metrics(text: str, t: float | None = None) -> Scrape:
    """Parse Prometheus text; values of one sample name are summed across label sets."""
    samples: dict[str, float] = defaultdict(float)
    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            if s.name.endswith("_bucket") and "le" in s.labels:
                le = math.inf if s.labels["le"] in ("+Inf", "Inf") else float(s.labels["le"])
                buckets[s.name[: -len("_bucket")]][le] += s.value
                continue
            samples[s.name] += s.value
    return Scrape(
        t=time.time() if t is None else t,
        samples=dict(samples),
        buckets={k: sorted(v.items()) for k, v in buckets.items()},
    )


def histogram_quantile(q: float, buckets: list[tuple[float, float]], total_sum: float | None = None) -> float | None:
    """Quantile from cumulative buckets, linear within a bucket (as Prometheus' histogram_quantile).

    One refinement when `total_sum` (the histogram's _sum over the same window) is given: in the
    lowest bucket, whose lower edge is 0, Prometheus interpolates over [0, le], so a queue time of
    ~0 s in vLLM's first bucket [0, 0.3 s] reads as p50 = 0.15 s. The sum bounds the mean of the
    observations in that bucket (every other observation is at least its bucket's lower edge), and
    the estimate interpolates over [0, min(le, 2 x that mean)] instead: exact-ish for a bucket of
    near-zero values, unchanged for values spread over the bucket.
    """
    if not buckets:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for i, (le, count) in enumerate(buckets):
        if count >= rank:
            if math.isinf(le):
                return prev_le  # cannot interpolate into +Inf: the highest finite bound
            if count == prev_count:
                return le
            hi = le
            if i == 0 and total_sum is not None:
                above = sum((c - pc) * pl for (pl, pc), (_, c) in zip(buckets, buckets[1:]))
                hi = min(le, 2.0 * max(total_sum - above, 0.0) / count)
            return prev_le + (hi - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return buckets[-1][0]


def _bucket_of(q: float, buckets: list[tuple[float, float]]) -> int | None:
    """The index of the cumulative bucket holding the q-quantile's rank (None for an empty histogram)."""
    rank = q * buckets[-1][1] if buckets else 0.0
    return next((i for i, (_, count) in enumerate(buckets) if count >= rank and count > 0), None)


def _first_present(candidates: list[str], names: set[str]) -> str | None:
    return next((c for c in candidates if c in names), None)


def summarize(before: Scrape, after: Scrape, series: list[Scrape]) -> dict[str, float]:
    """Harness-named metrics for the window between `before` and `after`."""
    out: dict[str, float] = {}
    unresolved: set[str] = set()
    for name, candidates in COUNTERS.items():
        key = _first_present(candidates, set(after.samples))
        if key is not None:
            out[name] = after.samples[key] - before.samples.get(key, 0.0)
    window = [s for s in series if before.t <= s.t <= after.t] or [after]
    for name, candidates in GAUGES.items():
        key = _first_present(candidates, set().union(*(s.samples for s in window)))
        if key is None:
            continue
        values = [s.samples[key] for s in window if key in s.samples]
        out[f"{name}_mean"] = sum(values) / len(values)
        out[f"{name}_max"] = max(values)
    for name, candidates in HISTOGRAMS.items():
        key = _first_present(candidates, set(after.buckets))
        if key is None:
            continue
        count = after.samples.get(key + "_count", 0.0) - before.samples.get(key + "_count", 0.0)
        total = after.samples.get(key + "_sum", 0.0) - before.samples.get(key + "_sum", 0.0)
        out[f"{name}_count"] = count
        if count > 0:
            out[f"{name}_mean"] = total / count
            prev = dict(before.buckets.get(key, []))
            delta = [(le, c - prev.get(le, 0.0)) for le, c in after.buckets[key]]
            for q in HISTOGRAM_QUANTILES:
                value = histogram_quantile(q, delta, total)
                if value is not None:
                    out[f"{name}_p{int(q * 100)}"] = value
            if _bucket_of(0.5, delta) == _bucket_of(0.9, delta):
                unresolved.add(name)  # p50 and p90 interpolated inside one bucket: their gap is the bucket's, not the data's
    if out.get("prefix_cache_queries"):
        out["prefix_cache_hit_rate"] = out.get("prefix_cache_hits", 0.0) / out["prefix_cache_queries"]
    if out.get("spec_decode_drafts", 0.0) > 0:  # speculative decoding drafted in the window
        accepted = out.get("spec_decode_accepted_tokens", 0.0)
        out["spec_decode_accepted_per_draft"] = accepted / out["spec_decode_drafts"]
        if out.get("spec_decode_draft_tokens", 0.0) > 0:
            out["spec_decode_acceptance_rate"] = accepted / out["spec_decode_draft_tokens"]
    if out.get("tpot_s_p50") and "tpot_s_p90" in out and "tpot_s" not in unresolved:
        out["tpot_s_spread"] = (out["tpot_s_p90"] - out["tpot_s_p50"]) / out["tpot_s_p50"]
    return {name: Measured(v, fact_of_server(name)) for name, v in out.items()}


_STATS = ("_mean", "_max", *(f"_p{int(q * 100)}" for q in HISTOGRAM_QUANTILES))


TPOT_SPREAD_WARN = 0.5
"""`server/tpot_s_spread` above this: the server's own time per token wanders within the window (a warning names it)."""
DERIVED_FACTS = {"tpot_s_spread": MetricFact("lower", "fraction", "server TPOT spread")}
"""Metrics this module derives from others: `tpot_s_spread` = (TPOT p90 - p50) / p50 over the window, from the
server's histogram (vLLM; llama.cpp has none), the server's own noise as the host gives it. Not derived when p50 and
p90 fall in one bucket: the interpolated gap would be the bucket's width (vLLM 0.26's lowest TPOT bucket is [0, 10 ms],
so every 7B window on an H100 read "80%")."""


def noisy_server(metrics: dict[str, float]) -> str | None:
    """The on-screen warning when the server's own TPOT spread is large (None when small or not measured)."""
    spread = metrics.get("tpot_s_spread")
    if spread is None or spread <= TPOT_SPREAD_WARN:
        return None
    return (f"noisy server: its own time per output token spread {100 * spread:.0f}% (p90 vs p50, its /metrics) within the "
            f"window (> {100 * TPOT_SPREAD_WARN:.0f}%): prefills interleaved with decoding (prompts arriving while others "
            "decode, long or uncached prompts) or a host that is not steady (a busy core, another process, a shared GPU)")


def fact_of_server(name: str) -> MetricFact | None:
    """The fact of a harness-named server metric (`ttft_s_p50` -> ttft_s's): FACTS of its base name."""
    if name in DERIVED_FACTS:
        return DERIVED_FACTS[name]
    if name in FACTS:
        return FACTS[name]
    if name.endswith("_count") and name[: -len("_count")] in HISTOGRAMS:
        return COUNT
    stat = next((s for s in _STATS if name.endswith(s)), None)
    fact = FACTS.get(name[: -len(stat)]) if stat is not None else None
    return fact.stat(stat[1:]) if fact is not None and stat is not None else fact


def window_scrapes(series: list[Scrape], start: float, end: float) -> tuple[Scrape, Scrape]:
    """The last scrape at or before `start` and the first at or after `end` (falling back to the ends)."""
    before = [s for s in series if s.t <= start]
    after = [s for s in series if s.t >= end]
    return (before[-1] if before else series[0]), (after[0] if after else series[-1])


@dataclass(frozen=True)
class ScrapeResult:
    """The scrape stage's typed result: the window's server metrics and how the scraping went."""

    metrics: dict[str, float]
    """Harness-named server metrics over the measured window (logged as server/<name>)."""
    scrapes: int
    """Scrapes answered (each one saved in `file`)."""
    failures: int
    """Scrapes that got no answer (timeouts, refused, HTTP errors)."""
    file: Path
    last_error: str | None = None
    series: tuple[Scrape, ...] = ()
    """Every answered scrape, in time order (for `history`)."""

    def flat_metrics(self, prefix: str = "server/") -> dict[str, float]:
        return {**{f"{prefix}{k}": Measured(v, fact_of_server(k)) for k, v in self.metrics.items()},
                f"{prefix}scrapes": Measured(self.scrapes, FACTS["scrapes"]),
                f"{prefix}scrape_failures": Measured(self.failures, FACTS["scrape_failures"])}

    def history(self, start: float, end: float | None = None, prefix: str = "server/") -> dict[str, list[SeriesPoint]]:
        """Per scrape taken in [start, end]: every gauge (`server/requests_running`, `server/kv_cache_usage`, ...),
        each histogram's mean since the previous scrape (`server/queue_time_s_mean`) and each counter's rate
        (`server/generation_tokens_per_s`); step = whole seconds from `start` (MLflow metric history)."""
        out: dict[str, list[SeriesPoint]] = {}

        def add(name: str, t: float, value: float) -> None:
            out.setdefault(prefix + name, []).append(SeriesPoint(int(t - start), t, value))

        ordered = sorted(self.series, key=lambda s: s.t)
        for prev, cur in zip([None, *ordered], ordered):
            if cur.t < start or (end is not None and cur.t > end):
                continue
            for name, candidates in GAUGES.items():
                key = _first_present(candidates, set(cur.samples))
                if key is not None:
                    add(name, cur.t, cur.samples[key])
            if prev is None or cur.t <= prev.t:
                continue
            for name, candidates in HISTOGRAMS.items():
                key = _first_present(candidates, set(cur.buckets))
                if key is None:
                    continue
                count = cur.samples.get(key + "_count", 0.0) - prev.samples.get(key + "_count", 0.0)
                if count > 0:
                    add(f"{name}_mean", cur.t, (cur.samples.get(key + "_sum", 0.0) - prev.samples.get(key + "_sum", 0.0)) / count)
            for name, candidates in COUNTERS.items():
                key = _first_present(candidates, set(cur.samples))
                if key is not None and key in prev.samples:
                    add(f"{name}_per_s", cur.t, max(cur.samples[key] - prev.samples[key], 0.0) / (cur.t - prev.t))
        return out


class MetricsScraper:
    """The scrape stage: /metrics every `interval_s` on a background thread, each scrape written to disk first."""

    name = "metrics"

    def __init__(self, url: str, out_path: Path, interval_s: float = 2.0, headers: dict[str, str] | None = None):
        self.url = url
        self.out_path = out_path
        self.interval_s = interval_s
        self.headers = headers or {}
        self.series: list[Scrape] = []
        self.failures = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def scrape_once(self, label: str = "during") -> Scrape | None:
        """Scrape now; returns None (and counts a failure) when the server does not answer."""
        try:
            r = httpx.get(self.url, headers=self.headers, timeout=10.0)
            r.raise_for_status()
            text = r.text
        except httpx.HTTPError as exc:
            with self._lock:
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            return None
        t = time.time()
        with self._lock:
            self.out_path.parent.mkdir(parents=True, exist_ok=True)
            with self.out_path.open("a") as fh:
                fh.write(json.dumps({"t": t, "label": label, "text": text}) + "\n")
            scrape = parse_metrics(text, t)
            self.series.append(scrape)
        return scrape

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.scrape_once("during")

    def start(self) -> "MetricsScraper":
        """Scrape once ("before"); when that was answered, keep scraping in the background."""
        if self.scrape_once("before") is None:
            return self
        self._thread = threading.Thread(target=self._loop, name="metrics-scraper", daemon=True)
        self._thread.start()
        return self

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def progress(self) -> Progress:
        return Progress("metrics", len(self.series), None, " scrapes", f"{self.failures} failed" if self.failures else "")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 15)

    def finish(self, window: tuple[float, float] | None = None) -> ScrapeResult:
        """Stop, scrape once more ("after") and summarise over `window` (epoch start, end; None = all scrapes)."""
        self.stop()
        self.scrape_once("after")
        metrics: dict[str, float] = {}
        if self.series:
            before, after = window_scrapes(self.series, *window) if window else (self.series[0], self.series[-1])
            metrics = summarize(before, after, self.series)
            if (warning := noisy_server(metrics)) is not None:
                log.warning("%s", warning)
        return ScrapeResult(metrics, len(self.series), self.failures, self.out_path, self.last_error, tuple(self.series))
