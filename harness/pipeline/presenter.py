"""What a sweep says while it runs: the one place progress is formatted.

The pipeline calls these methods with typed values; the presenter turns them into lines for
`write` (the CLI's stderr). A program using `run_experiment` can pass its own presenter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.fidelity.compare import Comparison as FidelityComparison
    from harness.fidelity.stage import FidelityResult
    from harness.load.runner import LoadResult
    from harness.outcome import VariantOutcome
    from harness.pipeline.adaptive import Comparison
    from harness.quality.runner import QualityResult
    from harness.server.launch import RunningServer
    from harness.server.metrics import ScrapeResult
    from harness.spec.model import ResolvedVariant
    from harness.stage import Progress

PROGRESS_EVERY_S = 10.0


class Presenter:
    """Progress as plain lines, one call per event."""

    every_s = PROGRESS_EVERY_S

    def __init__(self, write: Callable[[str], None] = print):
        self._write = write
        self._prefix = ""
        self.secrets: list[str] = []
        """Values never shown (set by the sweep from its spec; URL passwords are always hidden)."""

    def write(self, message: str) -> None:
        from harness.redaction import redact

        self._write(redact(message, self.secrets))

    # ---------------------------------------------------------------- the sweep

    def sweep_started(self, name: str, n_variants: int, folder: object, uri: str, experiment: str) -> None:
        self.write(f"sweep '{name}': {n_variants} variant(s); raw files in {folder}; MLflow {uri} (experiment '{experiment}')")

    def variant_started(self, i: int, n: int, variant: "ResolvedVariant") -> None:
        self._prefix = f"  {variant.name}: "
        self.write(f"[{i}/{n}] {variant.name}: starting {variant.server.kind} server")

    def variant_done(self, i: int, n: int, outcome: "VariantOutcome", run_id: str | None) -> None:
        status = "FAILED: " + "; ".join(f.headline for f in outcome.failures) if outcome.failed else "ok"
        self.write(f"[{i}/{n}] {outcome.variant.name}: {status} ({outcome.duration_s:.0f}s, MLflow run {run_id})")
        self._prefix = ""

    def look_done(self, look: int, looks: int, blocks: int, comparisons: Sequence["Comparison"]) -> None:
        """Adaptive repeats: a planned look's decision for every comparison (those stopped earlier keep theirs)."""
        self.write(f"look {look}/{looks} after {blocks} blocks:")
        for c in comparisons:
            earlier = c.stopped is not None and c.stopped.look < look
            self.write(f"  {c.line()}" + (f" (stopped at look {c.stopped.look})" if earlier else ""))

    def say_adaptive_stop(self, reason: str) -> None:
        self.write(f"adaptive repeats stop: {reason}")

    # ---------------------------------------------------------------- one variant

    def say(self, message: str) -> None:
        self.write(self._prefix + message)

    def ready(self, running: "RunningServer") -> None:
        self.say(f"ready in {running.ready_s:.1f}s at {running.endpoint.base_url}")

    def progress(self, items: Sequence["Progress"]) -> None:
        if items:
            self.say(" | ".join(str(p) for p in items))

    def load_done(self, result: "LoadResult") -> None:
        cap = result.capacity
        if cap is not None:
            self.say(f"capacity at SLO: {cap.label} ({cap.method}, {cap.measurements} measurements)")
            if cap.confirm is not None:
                self.say(f"capacity confirmation: {cap.confirm.label}")
        elif result.scan:
            self.say(f"rate scan: highest point meeting the SLOs: {result.max_point_meeting_slo}")
        for st in result.steps:
            t = st.summary
            self.say(f"step {st.index} ({st.offered:g} {'users' if st.users is not None else 'req/s'}): {t.requests} requests, "
                     f"TTFT p50 {t.ttft_ms.p50:.0f} ms, TPOT p50 {t.tpot_ms.p50:.1f} ms, {t.output_tokens_per_s:.1f} output tok/s")
        s = result.summary
        latency = f"TTFT p50 {s.ttft_ms.p50:.0f} ms"
        if s.requests and s.ok < s.requests:  # the percentiles cover the successful requests only: say how many are left out
            unfinished = f"{100 * (s.requests - s.ok) / s.requests:.1f}% unfinished"
            latency = f"{latency} over the {s.ok} that succeeded, {unfinished}" if s.ok else f"no latency, {unfinished}"
            if s.timeouts:
                latency += f" ({s.timeouts} timed out; E2E p95 with them at their timeout {s.e2e_censored_ms.p95:.0f} ms)"
        if s.cached_prompt_reported:  # the server's usage said how much of each prompt its cache served
            latency += f", {100 * s.cached_prompt_tokens_rate:.0f}% of prompt tokens cached"
            sides = [f"{v:.0f} ms on {name}" for name, v in (("hits", s.ttft_p50_ms_cache_hit), ("misses", s.ttft_p50_ms_cache_miss))
                     if not math.isnan(v)]
            if s.cache_hit_request_rate > 0:  # no hit at all: nothing to say beyond the cached share
                latency += f" ({100 * s.cache_hit_request_rate:.0f}% cache hits; TTFT p50 {', '.join(sides)})"
        self.say(f"load: {s.requests} requests, {s.errors} errors, {s.output_tokens_per_s:.1f} output tok/s, {latency}")
        if s.tokenizer_error:
            self.say(f"warning: client-side token counts skipped ({s.tokenizer_error})")
        if s.structured_requests:  # structured output / tool calls: how many replies failed the client's check
            why = f"; first: {s.invalid_example}" if s.invalid_example else ""
            self.say(f"structured: {s.structured_requests} requests, {s.invalid_outputs} invalid ({100 * s.invalid_output_rate:.0f}%){why}")

    def quality_done(self, result: "QualityResult") -> None:
        q = result.flat_metrics("")
        self.say("quality: " + ", ".join(f"{k}={v:.3f}" for k, v in sorted(q.items()) if not k.endswith(("_stderr", "/samples"))))
        for flag in result.flags:
            self.say(f"FLAG {flag}")

    def fidelity_done(self, result: "FidelityResult", floor: "FidelityComparison | None" = None) -> None:
        what = "noise floor (baseline vs its second pass)" if result.role == "baseline" else "vs the baseline"
        if result.comparison is not None:
            self.say(f"fidelity {what}: {result.comparison.line()}")
        if floor is not None:
            self.say(f"fidelity noise floor: {floor.line()}")
        for note in result.notes:
            self.say(f"fidelity: {note}")

    def scrape_done(self, result: "ScrapeResult") -> None:
        if result.failures:
            self.say(f"warning: {result.failures} /metrics scrape(s) failed ({result.last_error}); {result.scrapes} answered")

    def file_written(self, what: str, path: object) -> None:
        self.say(f"{what}: {path}")
