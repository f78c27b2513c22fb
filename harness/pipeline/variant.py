"""One variant: serve -> (load || quality) with the scrape stage alongside -> a filled VariantOutcome.

On a server computing on this machine's CPU (llama.cpp) the quality stage starts first and the load once
lm-eval sends, so lm-eval's boot stays out of the load's window; elsewhere the load starts first. With
`repeats.quality: separate` quality is scored after the load, on the idle server: no measured window
has lm-eval beside it.

Failures are recorded in the outcome as `Failure` values rather than raised (except Ctrl-C);
whatever a stage measured before a fault elsewhere is still finished into its result. The outcome lists them
cause first (`errors.Failures`): an interrupt or the server's death, then what followed from it.
"""

from __future__ import annotations

import time

from harness.errors import Failure, FidelityUnsupported, HarnessError, ServerExitedError
from harness.load.capacity import CapacitySearch
from harness.load.runner import LoadRun
from harness.load.served import not_served
from harness.load.scan import RateScan
from harness.outcome import VariantOutcome
from harness.pipeline.fidelity import FidelityPlan
from harness.pipeline.presenter import Presenter
from harness.quality.runner import QualityRun
from harness.server.engines import find_engine
from harness.server.gpu import GpuSampler
from harness.server.launch import RunningServer, serve
from harness.server.metrics import MetricsScraper
from harness.spec.model import ExperimentSpec, ResolvedVariant
from harness.stage import Stage

POLL_S = 0.5
BOOT_WAIT_S = 300.0
"""The load waits at most this long for lm-eval to start sending."""


def run_variant(spec: ExperimentSpec, variant: ResolvedVariant, outcome: VariantOutcome, presenter: Presenter,
                fidelity: FidelityPlan | None = None) -> None:
    """Fill `outcome`; errors are recorded in it rather than raised (except Ctrl-C). `fidelity`: the sweep's plan
    (None: no fidelity stage for this variant)."""
    started = time.time()
    outcome.folder.mkdir(parents=True, exist_ok=True)
    try:
        with serve(variant, outcome.folder / "server", presenter.say) as running:
            outcome.server = running
            presenter.ready(running)
            _Measurement(spec, running, outcome, presenter, fidelity).run()
    except HarnessError as exc:
        outcome.failures.append(Failure.of("server", exc))
    except OSError as exc:
        outcome.failures.append(Failure.of("server", exc))
    finally:
        outcome.duration_s = time.time() - started


def server_died(running: RunningServer, during: str) -> ServerExitedError:
    """The server is gone: a launched one's exit code, log tail and likely cause; an attached endpoint that stopped answering."""
    return running.death(during)


class _Measurement:
    """The stages of one variant against one running server."""

    def __init__(self, spec: ExperimentSpec, running: RunningServer, outcome: VariantOutcome, presenter: Presenter,
                 fidelity: FidelityPlan | None = None):
        self.spec = spec
        self.running = running
        self.outcome = outcome
        self.presenter = presenter
        self.fidelity = fidelity

    def run(self) -> None:
        scraper = self._start_scraper()
        gpu = GpuSampler(self.outcome.folder / "server" / "gpu.jsonl").start()  # skips cleanly without an NVIDIA GPU
        fidelity_first = self.fidelity is not None and self.fidelity.when == "before_load"
        if (fidelity_first and not self._fidelity()) or (
                self.spec.quality.enabled and self.spec.quality.idle_baseline and not self._score_idle()):
            if scraper is not None:
                self.outcome.scrape = scraper.finish()
            self.outcome.gpu = gpu.finish()
            return  # the server died during the idle run: nothing left to measure
        stages: list[Stage] = []
        interrupted: KeyboardInterrupt | None = None
        try:
            served_by = find_engine(self.running.endpoint.engine)
            beside = self.spec.quality.enabled and not self._separate
            quality_first = beside and self.spec.load.enabled and served_by is not None and served_by.computes_on_host_cpu
            if quality_first:
                self._start(stages, "quality", lambda: self._quality("quality"))
                if stages:
                    self._await_sending(stages[0])
            if self.spec.load.enabled:
                scan = self.spec.load.rate_scan is not None
                self._start(stages, "load", lambda: (CapacitySearch if self.spec.load.capacity else RateScan if scan else LoadRun)(self.spec.load, self.running.endpoint, self.outcome.folder / "load"))
            if beside and not quality_first:
                self._start(stages, "quality", lambda: self._quality("quality"))
            self._watch(stages, "the measurement")
        except (HarnessError, KeyboardInterrupt) as exc:
            # the load first: its users stop sending before anything else is waited for
            for stage in sorted(stages, key=lambda st: st.name != "load"):
                stage.stop()
            if isinstance(exc, KeyboardInterrupt):
                interrupted = exc
            else:
                self.outcome.failures.append(Failure.of("server", exc))
        finally:
            if scraper is not None:
                scraper.stop()
            gpu.stop()
        # finished work is kept even on Ctrl-C: the records written and any results lm-eval saved
        for stage in sorted(stages, key=lambda st: st.name != "load"):
            self._finish(stage)
        if scraper is not None:
            load = self.outcome.load
            self.outcome.scrape = scraper.finish((load.window_start, load.window_end) if load is not None else None)
            self.presenter.scrape_done(self.outcome.scrape)
        load = self.outcome.load
        self.outcome.gpu = gpu.finish((load.window_start, load.window_end) if load is not None else None)
        if interrupted is not None:
            raise interrupted
        if self.spec.quality.enabled and self._separate and self.running.alive() and not self._score_separately():
            return
        if self.fidelity is not None and not fidelity_first and self.running.alive():
            self._fidelity()

    @property
    def _separate(self) -> bool:
        """Quality in its own window after the load (`repeats.quality: separate`), when there is a load to keep it from."""
        return self.spec.repeats.quality == "separate" and self.spec.load.enabled

    def _score_separately(self) -> bool:
        """`repeats.quality: separate`: quality scored alone on the idle server after the load; False when the server died."""
        self.presenter.say("quality, after the load (repeats.quality: separate) ...")
        try:
            run = self._quality("quality").start()
            if not self._watch_alone(run, "the quality stage"):
                return False
            self._finish(run)
        except HarnessError as exc:
            self.outcome.failures.append(Failure.of("quality", exc))
        return True

    def _watch_alone(self, run: Stage, what: str) -> bool:
        """Watch one stage running alone on the idle server; False (the server's failure recorded) when it died."""
        try:
            self._watch([run], what)
        except ServerExitedError as exc:
            run.stop()
            self.outcome.failures.append(Failure.of("server", exc))
            return False
        except KeyboardInterrupt:
            run.stop()
            raise
        return True

    def _fidelity(self) -> bool:
        """The fidelity stage on the idle server (the baseline: reference and noise floor; others: against the
        reference); False when the server died during it. A default-on stage skips an endpoint without logprobs."""
        assert self.fidelity is not None
        run, what = self.fidelity.stage(self.outcome.variant, self.running.endpoint, self.outcome.folder / "fidelity")
        self.presenter.say(f"fidelity: {what}")
        if run is None:
            return True
        alive, interrupted = True, None
        try:
            run.start()
            self._watch([run], "the fidelity stage")
        except ServerExitedError as exc:
            run.stop()
            self.outcome.failures.append(Failure.of("server", exc))
            alive = False
        except KeyboardInterrupt as exc:
            run.stop()
            interrupted = exc
        try:
            result = run.finish()
        except FidelityUnsupported as exc:
            if self.fidelity.required:
                self.outcome.failures.append(Failure.of("fidelity", exc))
            else:
                self.presenter.say(f"fidelity skipped: {exc}")
        except HarnessError as exc:
            if alive:  # a dead server is the failure already recorded
                self.outcome.failures.append(Failure.of("fidelity", exc))
        else:
            self.outcome.fidelity = result
            if not self.fidelity.is_baseline(self.outcome.variant):
                self.outcome.fidelity_floor = self.fidelity.floor
            self.outcome.failures.extend(result.failures)
            self.fidelity.observe(self.outcome)  # the baseline's: its reference and noise floor, for the variants after it
            self.presenter.fidelity_done(result, self.outcome.fidelity_floor)
        if interrupted is not None:
            raise interrupted
        return alive

    def _quality(self, name: str) -> QualityRun:
        """A quality run with this variant's own request cache (outside its artifacts): a resume skips answered samples."""
        cache = self.outcome.folder.parent / ".cache" / self.outcome.variant.name
        return QualityRun(self.spec.quality, self.running.endpoint, self.outcome.folder / name, cache_dir=cache)

    def _start(self, stages: list[Stage], name: str, make) -> None:
        try:
            stages.append(make().start())
        except HarnessError as exc:
            self.outcome.failures.append(Failure.of(name, exc))

    def _start_scraper(self) -> MetricsScraper | None:
        endpoint = self.running.endpoint
        if not (self.spec.metrics.enabled and endpoint.metrics_url):
            return None
        scraper = MetricsScraper(endpoint.metrics_url, self.outcome.folder / "server" / "metrics.jsonl",
                                 self.spec.metrics.interval_s, endpoint.headers())
        if not scraper.start().running():
            self.presenter.say(f"warning: {endpoint.metrics_url} did not answer; server metrics skipped")
            return None
        return scraper

    def _await_sending(self, quality: QualityRun) -> None:
        """Hold the load until lm-eval has booted (up to BOOT_WAIT_S): its imports take a core for tens of
        seconds, which on a CPU-served model would slow the server inside the load's measured window."""
        deadline = time.time() + BOOT_WAIT_S
        last = time.time()
        while quality.running() and not quality.sending():
            if time.time() > deadline:
                self.presenter.say(f"warning: lm-eval sent nothing within {BOOT_WAIT_S:.0f}s; starting the load anyway")
                return
            time.sleep(POLL_S)
            if not self.running.alive():
                raise server_died(self.running, "the quality stage's start")
            if time.time() - last >= self.presenter.every_s:
                last = time.time()
                self.presenter.progress([quality.progress()])

    def _watch(self, stages: list[Stage], during: str) -> None:
        """Poll until every stage is done; raise ServerExitedError when the server dies meanwhile."""
        last = time.time()
        ended: set[int] = set()
        while True:
            live = [s for s in stages if s.running()]
            # a stage that ended since the last poll shows its final figures once (one that finishes
            # between two polls, like lm-eval answering from its cache, would otherwise stay "booting")
            live_ids = {id(s) for s in live}
            done = [s for s in stages if id(s) not in live_ids and id(s) not in ended]
            if done:
                ended.update(id(s) for s in done)
                self.presenter.progress([s.progress() for s in done])
            if not live:
                if not self.running.alive():  # the stages ended because the server died: that is the failure
                    raise server_died(self.running, during)
                return
            time.sleep(POLL_S)
            if not self.running.alive():
                raise server_died(self.running, during)
            if time.time() - last >= self.presenter.every_s:
                last = time.time()
                self.presenter.progress([s.progress() for s in live])

    def _finish(self, stage: Stage) -> None:
        try:
            result = stage.finish()
        except HarnessError as exc:
            self.outcome.failures.append(Failure.of(stage.name, exc))
            return
        self.outcome.failures.extend(result.failures)
        if stage.name == "load":
            self.outcome.load = result
            self.presenter.load_done(result)
            if result.capacity is None and not result.scan:  # scans and searches judge each point by slo.max_error_rate
                load = self.spec.load
                failure = not_served(result.summary, load.max_error_rate, len(result.records), load.warmup_s, load.measured_s())
                if failure is not None:
                    self.outcome.failures.append(failure)
        else:
            self.outcome.quality = result
            self.presenter.quality_done(result)

    def _score_idle(self) -> bool:
        """Score the quality samples with no load first, for the quality-under-load delta; False when the server died."""
        self.presenter.say("quality with no load (idle baseline) ...")
        try:
            run = self._quality("quality_idle").start()
            if not self._watch_alone(run, "the idle quality run"):
                return False
            self.outcome.quality_idle = run.finish()
        except HarnessError as exc:
            self.outcome.failures.append(Failure.of("quality_idle", exc, "idle quality baseline: "))
        return True
