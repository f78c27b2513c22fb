"""The pipeline: for each variant, serve -> (load || quality) + metrics scrape -> track.

A fault in one variant marks that variant's run FAILED, keeps what was measured (raw files are
already on disk and are logged) and the sweep moves on to the next variant.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import yaml

from harness.errors import HarnessError, ServerExitedError
from harness.load.runner import LoadRun
from harness.load.series import LoadSeries
from harness.outcome import SweepResult, VariantOutcome
from harness.quality.runner import QualityRun
from harness.report.plots import load_curve_plot
from harness.server.launch import RunningServer, serve
from harness.server.metrics import MetricsScraper, Scrape, summarize
from harness.server.process import likely_cause
from harness.spec.loader import resolve_variants
from harness.spec.model import ExperimentSpec, ResolvedVariant
from harness.tracking.mlflow_logger import SweepLogger

Progress = Callable[[str], None]
PROGRESS_EVERY_S = 10.0


def run_sweep(spec: ExperimentSpec, progress: Progress = print) -> SweepResult:
    variants = resolve_variants(spec)
    folder = Path(spec.tracking.run_dir) / f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "experiment.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    logger = SweepLogger(spec, variants)
    parent = logger.start_sweep(folder)
    progress(f"sweep '{spec.name}': {len(variants)} variant(s); raw files in {folder}; MLflow {logger.uri} (experiment '{logger.experiment}')")
    outcomes: list[VariantOutcome] = []
    try:
        for i, variant in enumerate(variants, 1):
            progress(f"[{i}/{len(variants)}] {variant.name}: starting {variant.server.kind} server")
            run_id = logger.start_variant(variant)
            outcome = VariantOutcome(variant=variant, folder=folder / variant.name)
            try:
                run_variant(spec, variant, outcome, lambda m, n=variant.name: progress(f"  {n}: {m}"))
            except KeyboardInterrupt:
                outcome.errors.append("interrupted by the user (Ctrl-C)")
                logger.finish_variant(run_id, outcome)
                outcomes.append(outcome)
                raise
            logger.finish_variant(run_id, outcome)
            outcomes.append(outcome)
            status = "FAILED: " + "; ".join(e.splitlines()[0] for e in outcome.errors) if outcome.failed else "ok"
            progress(f"[{i}/{len(variants)}] {variant.name}: {status} ({outcome.duration_s:.0f}s, MLflow run {run_id})")
    finally:
        logger.end_sweep(failed=any(o.failed for o in outcomes) or len(outcomes) < len(variants))
    return SweepResult(logger.experiment, parent, outcomes, folder)


def _window_scrapes(series: list[Scrape], start: float, end: float) -> tuple[Scrape, Scrape]:
    """The last scrape at or before `start` and the first at or after `end` (falling back to the ends)."""
    before = [s for s in series if s.t <= start]
    after = [s for s in series if s.t >= end]
    return (before[-1] if before else series[0]), (after[0] if after else series[-1])


def run_variant(spec: ExperimentSpec, variant: ResolvedVariant, outcome: VariantOutcome, progress: Progress) -> None:
    """Fill `outcome`; errors are recorded in it rather than raised (except Ctrl-C)."""
    started = time.time()
    outcome.folder.mkdir(parents=True, exist_ok=True)
    try:
        with serve(variant, outcome.folder / "server") as running:
            outcome.server = running
            progress(f"ready in {running.ready_s:.1f}s at {running.endpoint.base_url}")
            _measure(spec, running, outcome, progress)
    except HarnessError as exc:
        outcome.errors.append(str(exc))
    except OSError as exc:
        outcome.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        outcome.duration_s = time.time() - started


def _raise_server_died(running: RunningServer, during: str) -> None:
    """The server process is gone: raise with its exit code, log tail and likely cause."""
    log = running.process.log_tail(40) if running.process else ""
    code = running.process.poll() if running.process else None
    raise ServerExitedError(f"the server died during {during}", code, log, likely_cause(log))


def _score_idle(spec: ExperimentSpec, running: RunningServer, outcome: VariantOutcome, progress: Progress) -> None:
    """Score the quality samples with no load first, for the quality-under-load delta."""
    progress("quality with no load (idle baseline) ...")
    try:
        run = QualityRun(spec.quality, running.endpoint, outcome.folder / "quality_idle").start()
        while run.running():
            time.sleep(0.5)
            if not running.alive():
                run.stop()
                _raise_server_died(running, "the idle quality run")
        outcome.quality_idle = run.finish()
    except HarnessError as exc:
        outcome.errors.append(f"idle quality baseline: {exc}")


def _measure(spec: ExperimentSpec, running: RunningServer, outcome: VariantOutcome, progress: Progress) -> None:
    endpoint = running.endpoint
    scraper = None
    if spec.metrics.enabled and endpoint.metrics_url:
        outcome.metrics_file = outcome.folder / "server" / "metrics.jsonl"
        scraper = MetricsScraper(endpoint.metrics_url, outcome.metrics_file, spec.metrics.interval_s, endpoint.headers())
        if scraper.scrape_once("before") is None:
            progress(f"warning: {endpoint.metrics_url} did not answer; server metrics skipped")
            scraper = None
        else:
            scraper.start()
    if spec.quality.enabled and spec.quality.idle_baseline:
        _score_idle(spec, running, outcome, progress)
    runner = LoadSeries if spec.load.sweep is not None else LoadRun
    load = runner(spec.load, endpoint, outcome.folder / "load").start() if spec.load.enabled else None
    quality = None
    if spec.quality.enabled:
        try:
            quality = QualityRun(spec.quality, endpoint, outcome.folder / "quality").start()
        except HarnessError as exc:
            outcome.errors.append(str(exc))
    try:
        last = time.time()
        while (load and load.running()) or (quality and quality.running()):
            time.sleep(0.5)
            if not running.alive():
                _raise_server_died(running, "the measurement")
            if time.time() - last >= PROGRESS_EVERY_S:
                last = time.time()
                parts = [p.progress() for p in (load, quality) if p is not None and p.running()]
                progress(" | ".join(parts))
    except (HarnessError, KeyboardInterrupt) as exc:
        for stage in (load, quality):
            if stage is not None:
                stage.stop()
        if isinstance(exc, KeyboardInterrupt):
            raise
        outcome.errors.append(str(exc))
    finally:
        if scraper is not None:
            scraper.stop()
    if load is not None:
        try:
            outcome.load = load.finish()
            if isinstance(load, LoadSeries):
                outcome.errors.extend(load.errors)
                progress(f"sweep: highest point meeting the SLOs: {outcome.load.max_point_meeting_slo}")
            curve = load_curve_plot(outcome.load, outcome.folder / "load" / "load_curve.png")
            if curve is not None:
                progress(f"load curve: {curve}")
            for st in outcome.load.steps:
                t = st.summary
                progress(f"step {st.index} ({st.offered:g} {'users' if st.users is not None else 'req/s'}): {t.requests} requests, "
                         f"TTFT p50 {t.ttft_ms.p50:.0f} ms, TPOT p50 {t.tpot_ms.p50:.1f} ms, {t.output_tokens_per_s:.1f} output tok/s")
            s = outcome.load.summary
            progress(f"load: {s.requests} requests, {s.errors} errors, {s.output_tokens_per_s:.1f} output tok/s, TTFT p50 {s.ttft_ms.p50:.0f} ms")
            if s.tokenizer_error:
                progress(f"warning: client-side token counts skipped ({s.tokenizer_error})")
        except HarnessError as exc:
            outcome.errors.append(str(exc))
    if quality is not None:
        try:
            outcome.quality = quality.finish()
            q = outcome.quality.flat_metrics("")
            progress("quality: " + ", ".join(f"{k}={v:.3f}" for k, v in sorted(q.items()) if not k.endswith(("_stderr", "/samples"))))
            for flag in outcome.quality.flags:
                progress(f"FLAG {flag}")
        except HarnessError as exc:
            outcome.errors.append(str(exc))
    if scraper is not None:
        scraper.scrape_once("after")
        series = scraper.series
        if outcome.load is not None:
            before, after = _window_scrapes(series, outcome.load.window_start, outcome.load.window_end)
        else:
            before, after = series[0], series[-1]
        outcome.server_metrics = summarize(before, after, series)
