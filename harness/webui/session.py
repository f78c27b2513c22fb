"""One web-UI test as a harness run: its run folder, its quality run, and at the end its MLflow run.

A test started from Locust's web UI becomes a one-variant sweep folder laid out as `harness run`
lays one out (`<run-dir>/locust-webui-<time>-<id>/` with `experiment.yaml`, `sweep_state.json`
and `<variant>/load|quality/...`, `<variant>/results.json` from the tracking writer's
`variant_record`), then `python -m harness.webui.log FOLDER` logs it with the same writer
(harness/tracking/mlflow_logger.py) in a process of its own: MLflow never runs inside the
gevent-patched Locust process, whose event loop times every stream. MLflow unreachable: the
folder keeps everything, and `harness sync FOLDER` logs it later.

No Locust here: waits are `time.sleep`, which Locust's monkey-patching makes cooperative.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from harness.errors import Failure, SpecError
from harness.load.served import not_served
from harness.load.stats import LoadSummary, summarize
from harness.server.endpoint import Endpoint
from harness.spec.load import LoadSpec
from harness.spec.model import ExperimentSpec, ResolvedVariant
from harness.webui.live import (
    MlflowView, QualityView, RecordTail, Verdict, final_verdict, lm_eval_progress, rows, served_line, summary_json,
)

SPEC_NAME = "locust-webui"
"""The sweep's spec name: its run folder and MLflow run are `locust-webui-<time>...`."""
LOG_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class SessionOptions:
    """What one web-UI test runs with: Locust's options as the start form left them."""

    host: str
    model: str = ""
    api_key_env: str = ""
    load_json: str = ""
    users: int | None = None
    spawn_rate: float | None = None
    quality_tasks: tuple[str, ...] = ()
    quality_limit: int | None = None
    experiment: str = ""
    """MLflow experiment; empty: not logged."""
    tracking_uri: str = ""
    run_dir: Path = Path("runs")
    variant: str = "webui"
    records: str = ""
    """`--records` given by the user (empty: the test's own run folder)."""


def parse_tasks(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.replace(",", " ").split() if t)


def parse_limit(text: str) -> int | None:
    text = str(text or "").strip()
    if not text or text == "0":
        return None
    try:
        limit = int(text)
    except ValueError:
        raise SpecError([f"--quality-limit: '{text}' is not a whole number (samples per task; empty = the whole test set)"]) from None
    if limit < 1:
        raise SpecError([f"--quality-limit: {limit} must be at least 1 (empty = the whole test set)"])
    return limit


class WebSession:
    """One test of the web UI, from its start to its MLflow run."""

    def __init__(self, opts: SessionOptions, started: float):
        self.opts = opts
        self.started = started
        self.stopped: float | None = None
        self.model = opts.model
        self.load = self._load_spec(opts)
        self.spec = self.experiment_spec()  # bad options fail now, before any request is sent
        self.folder = _new_folder(opts.run_dir)
        self.variant_folder = self.folder / opts.variant
        self.load_folder = self.variant_folder / "load"
        self.load_folder.mkdir(parents=True, exist_ok=True)
        self.own_records = self.load_folder / "records.jsonl"
        self.records_path = Path(opts.records) if opts.records else self.own_records
        self.tail = RecordTail(self.records_path, since=started)
        self.quality = QualityView(state="starting" if opts.quality_tasks else "off", tasks=list(opts.quality_tasks))
        self.mlflow = MlflowView(state="pending" if opts.experiment else "local", experiment=opts.experiment)
        self.failures: list[Failure] = []
        self._run: Any = None
        self._result: Any = None
        self._summary: LoadSummary | None = None
        self._summary_at = -1.0
        self._final = False

    # ------------------------------------------------------------ spec

    @staticmethod
    def _load_spec(opts: SessionOptions) -> LoadSpec:
        from pydantic import ValidationError

        from harness.spec.loader import format_validation_error

        try:
            data = json.loads(opts.load_json) if opts.load_json else {}
        except ValueError as exc:
            raise SpecError([f"--harness-load: not JSON ({exc})"]) from None
        if opts.users is not None:
            data["users"] = opts.users
        if opts.spawn_rate is not None:
            data["spawn_rate"] = opts.spawn_rate
        try:
            return LoadSpec.model_validate(data)
        except ValidationError as err:
            raise SpecError(format_validation_error(err, LoadSpec, "load.")) from None

    def experiment_spec(self, duration_s: float | None = None) -> ExperimentSpec:
        """The spec of an attach-run (`server.kind: openai`) that measures what this test measured."""
        from harness.quality.tasks import resolve_data_dir
        from harness.spec.loader import build_spec

        load = self.load.model_dump(mode="json", exclude_unset=True)
        if duration_s is not None:
            load["duration_s"] = max(round(duration_s, 1), 0.1)
        quality: dict[str, Any] = {"enabled": bool(self.opts.quality_tasks)}
        if self.opts.quality_tasks:
            quality.update(tasks=list(self.opts.quality_tasks), limit=self.opts.quality_limit)
        about = f"Locust web UI test against {self.opts.host}"
        server: dict[str, Any] = {"kind": "openai", "openai": {"base_url": self.opts.host}, "model": self.model or "unknown",
                                  "served_model_name": self.model or "unknown", "api_key_env": self.opts.api_key_env or None}
        tracking = {"experiment": self.opts.experiment or None, "uri": self.opts.tracking_uri or None, "run_dir": str(self.opts.run_dir)}
        data = {"name": SPEC_NAME, "description": about, "smoke": self.opts.quality_limit is not None, "server": server,
                "variants": [{"name": self.opts.variant, "description": about}], "load": load, "quality": quality,
                "metrics": {"enabled": False}, "tracking": tracking}
        spec = build_spec(data, {}, [])
        if spec.quality.enabled:  # the data the quality run will read, as `harness run` records it (HARNESS_DATA_DIR, ../shared)
            _check_task_names(spec.quality.tasks)
            data_dir = resolve_data_dir(spec.quality)
            quality["data_dir"] = str(data_dir) if data_dir is not None else None
            spec = build_spec(data, {}, [])
        return spec

    def endpoint(self) -> Endpoint:
        """The host as the quality stage talks to it; the model from /v1/models unless `--model` named it."""
        ep = Endpoint(self.opts.host.rstrip("/").removesuffix("/v1"), self.model, None, self.opts.api_key_env or None, "openai")
        if not self.model:
            import httpx

            r = httpx.get(ep.base_url + "/v1/models", headers=ep.headers(), timeout=30)
            r.raise_for_status()
            self.model = r.json()["data"][0]["id"]
            ep = replace(ep, model=self.model)
        return ep

    # ------------------------------------------------------------ live

    @property
    def window_start(self) -> float:
        return self.started + self.load.warmup_s

    def summary(self, max_age_s: float = 1.0) -> LoadSummary | None:
        """The measured window's summary so far (recomputed at most every `max_age_s`); None before any record."""
        if self._final or time.monotonic() - self._summary_at < max_age_s:
            return self._summary
        records = self.tail.read()
        summary = summarize(records, self.window_start, self.stopped, self.load.slo) if records else None
        self._summary = replace(summary, records_dropped=self.tail.dropped) if summary is not None else None
        self._summary_at = time.monotonic()
        return self._summary

    def judge(self) -> Failure | None:
        """The load's failure when the server did not serve (`not_served` over the measured window, with
        `load.max_error_rate`), else None: so far while the test runs, final once it stopped and its records were read."""
        summary = self.summary() or summarize([], self.window_start, self.stopped, self.load.slo)
        measured_s = max((self.stopped or time.time()) - self.window_start, 0.0)
        return not_served(summary, self.load.max_error_rate, len(self.tail.records), self.load.warmup_s, measured_s)

    def verdict(self) -> Verdict:
        """The tab's Verdict: final (FAILED with the cause, or ok) once the run folder is written; before, the load's
        judgement so far."""
        summary = self.summary()
        if self._final:
            return final_verdict(self.failures, summary, self.load.max_error_rate)
        state = "running" if self.stopped is None else "stopping"
        if summary is None or summary.requests == 0:
            return Verdict(state, "judged when the test stops: no request of the measured window has finished yet")
        failure = self.judge()
        if failure is not None:
            return Verdict(state, f"failing so far (judged when the test stops): {failure.headline}", failure.stage, failure.kind)
        return Verdict(state, f"serving so far (judged when the test stops): {served_line(summary, self.load.max_error_rate)}")

    def quality_view(self) -> QualityView:
        run = self._run
        if run is not None and self.quality.state == "running":
            self.quality.elapsed_s = time.time() - run.started
            got = lm_eval_progress(run.proc.log_tail(200))
            if got is not None:
                self.quality.done, self.quality.total = got
        return self.quality

    def payload(self) -> dict[str, Any]:
        """The LLM tab's data as JSON (`/llm/stats`)."""
        summary = self.summary()
        slo = self.load.slo
        slo_set = any(v is not None for v in (slo.ttft_ms, slo.tpot_ms, slo.e2e_ms))
        note = f"{'running' if self.stopped is None else 'stopped'}; run folder {self.folder}"
        verdict = self.verdict()
        return {"folder": str(self.folder), "records_path": str(self.records_path), "started": self.started, "stopped": self.stopped,
                "window_start": self.window_start, "records": len(self.tail.records), "summary": summary_json(summary),
                "verdict": asdict(verdict), "quality": asdict(self.quality_view()),
                "mlflow": {**asdict(self.mlflow), "text": self.mlflow.text(self.folder)},
                "rows": rows(summary, slo_set, self.quality, self.mlflow.text(self.folder), note, verdict)}

    # ------------------------------------------------------------ quality

    def run_quality(self) -> None:
        """lm-eval against the same host (blocks until it ends; run it beside the test)."""
        from harness.quality.runner import QualityRun

        try:
            self._run = QualityRun(self.spec.quality, self.endpoint(), self.variant_folder / "quality").start()
            self.quality.state = "running"
            self._result = self._run.finish()
        except Exception as exc:  # noqa: BLE001 - any failure is the quality stage's, shown in the tab and logged
            self.failures.append(Failure.of("quality", exc))
            self.quality.state, self.quality.error = "failed", str(exc).splitlines()[0][:300]
            return
        self.quality.state = "done"
        self.quality.scores = {t: {m: s.value for m, s in ms.items()} for t, ms in self._result.scores.items()}
        self.quality.samples = dict(self._result.samples)
        self.quality.elapsed_s = self._result.duration_s

    # ------------------------------------------------------------ the end

    def stop(self, now: float) -> None:
        self.stopped = now

    def finish(self) -> None:
        """After the test stopped: wait for the quality run (it scores every sample), judge whether the server served
        (a load that did not is the test's first failure: its MLflow run ends FAILED), write the run folder, log it."""
        while self.quality.state in ("starting", "running"):
            if self.mlflow.state == "pending":
                self.mlflow.state = "waiting"
            time.sleep(0.5)
        if self.mlflow.state == "waiting":
            self.mlflow.state = "pending"
        self.summary(max_age_s=0.0)
        if self._summary is None:  # not one record: an empty window, judged like any other
            self._summary = summarize([], self.window_start, self.stopped, self.load.slo)
        self._final = True
        failure = self.judge()
        if failure is not None:  # the cause: a quality run against a server that did not serve failed because of it
            self.failures.insert(0, failure)
        from harness.webui.record import write_folder

        result = write_folder(self)
        self.mlflow.status = "FAILED" if result.failed else "FINISHED"
        if self.opts.experiment:
            self._log()

    def _log(self) -> None:
        from harness.server.process import ManagedProcess
        from harness.tracking.state import SweepState

        self.mlflow.state = "logging"
        proc = ManagedProcess([sys.executable, "-m", "harness.webui.log", str(self.folder)], self.folder / "mlflow.log").start()
        end = time.time() + LOG_TIMEOUT_S
        while proc.poll() is None and time.time() < end:
            time.sleep(0.2)
        code = proc.stop()
        state = SweepState.read(self.folder)
        v = state.variants.get(self.opts.variant)
        if code == 0 and v is not None and v.logged:
            self.mlflow.state, self.mlflow.sweep_run_id, self.mlflow.run_id = "logged", state.parent_run_id, v.run_id
        else:
            self.mlflow.state = "failed"
            self.mlflow.error = (proc.log_tail(5).strip().splitlines() or [f"exit code {code}"])[-1][:300]

    def variant(self) -> ResolvedVariant:
        from harness.spec.loader import resolve_variants

        return resolve_variants(self.spec)[0]


def _new_folder(run_dir: Path) -> Path:
    """`<run_dir>/locust-webui-<time>-<random>`, as `harness run` names a sweep's folder."""
    from harness.tracking.state import new_run_folder

    return new_run_folder(run_dir, SPEC_NAME, "--run-dir")


def _check_task_names(tasks: list[str]) -> None:
    """Each start-form task an lm-eval task, group or tag (a typo is named with close names), or a task YAML file."""
    from harness.errors import QualityError
    from harness.quality.catalog import lookup
    from harness.spec.model import is_task_file

    problems = []
    for name in tasks:
        if is_task_file(name):  # a name with a slash that is no task file was refused by the spec already
            continue
        try:
            lookup(name)
        except QualityError as exc:
            problems.append(str(exc))  # "quality.tasks: lm-eval has no task ... did you mean ...?"
    if problems:
        raise SpecError(problems)


def spec_yaml(spec: ExperimentSpec) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
