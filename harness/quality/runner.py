"""Run lm-eval against the endpoint as a subprocess: one pass per API the tasks need.

Generative tasks go through chat completions (the harness's `harness-chat-completions`, lm-eval's
local-chat-completions plus the reasoning rule: harness/quality/lm_eval_model.py); loglikelihood
tasks through `harness-completions` (lm-eval's local-completions: prompt log-probabilities,
/v1/completions with echo), in a second pass after the first. Both check every reply: an error
answer fails the stage before anything is scored (harness/quality/error_answers.py). One lm-eval
process per pass and variant, with no shared request cache: lm-eval's cache key ignores the model
and URL, so a shared cache would hand one config's answers to another.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import Failure, QualityError
from harness.facts import COUNT, NEITHER, MetricFact
from harness.quality.error_answers import ERRORS_ENV, read_errors
from harness.quality.reasoning import COMPLETIONS_MODEL, LOG_ENV, MODEL, PATTERN_ENV
from harness.quality.log_progress import read_progress
from harness.quality.results import Score, parse_results, quality_flags  # noqa: F401  (Score, parse_results: re-exported)
from harness.quality.groups import owners
from harness.quality.samples import ReasoningStats, build_tables, read_reasoning, write_tables
from harness.quality.tasks import TaskPlan, render_tasks, resolve_data_dir
from harness.server.endpoint import Endpoint
from harness.server.process import ManagedProcess
from harness.spec.model import QualitySpec
from harness.stage import Progress, SubprocessStage

@dataclass
class QualityResult:
    """Typed output of the quality stage."""

    scores: dict[str, dict[str, Score]]
    """task -> metric -> score."""
    samples: dict[str, int]
    """task -> number of scored samples."""
    plans: list[TaskPlan]
    results_file: Path
    sample_files: list[Path]
    duration_s: float
    log: Path
    flags: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    """Partial failures that still left a result (none today; the shape every stage result has)."""
    reasoning: dict[str, ReasoningStats] = field(default_factory=dict)
    """task -> how much reasoning was removed from its replies before scoring (generative tasks, quality.reasoning.strip)."""
    tables: dict[str, Path] = field(default_factory=dict)
    """task -> its per-sample table (harness/quality/samples.py), logged as an MLflow table."""

    def flat_metrics(self, prefix: str = "quality/") -> dict[str, float]:
        out: dict[str, float] = {}
        for task, metrics in self.scores.items():
            for name, score in metrics.items():
                out[f"{prefix}{task}/{name}"] = score.value
                if score.stderr is not None:
                    out[f"{prefix}{task}/{name}_stderr"] = NEITHER.of(score.stderr)
            out[f"{prefix}{task}/samples"] = COUNT.of(self.samples.get(task, 0))
        for task, stats in self.reasoning.items():
            out[f"{prefix}{task}/reasoning_chars_mean"] = MetricFact("neither", "chars").of(stats.chars_mean)
            out[f"{prefix}{task}/reasoning_replies"] = NEITHER.of(stats.with_reasoning / stats.replies if stats.replies else 0.0)
        gsm = self.scores.get("gsm8k", {})
        if "exact_match_strict" in gsm and "exact_match_flexible" in gsm:
            out[f"{prefix}gsm8k/flexible_minus_strict"] = NEITHER.of(gsm["exact_match_flexible"].value - gsm["exact_match_strict"].value)
        return out


def lm_eval_argv(spec: QualitySpec, endpoint: Endpoint, include_dir: Path, out_dir: Path, plans: list[TaskPlan]) -> list[str]:
    """The lm-eval command of one pass (`plans` share one request type)."""
    chat = plans[0].request == "chat"
    model_args = [
        f"model={endpoint.model}",
        f"base_url={endpoint.base_url}/v1/{'chat/completions' if chat else 'completions'}",
        f"num_concurrent={spec.num_concurrent}",
        "max_retries=3",
        f"timeout={int(spec.timeout_s)}",
    ]
    if chat:
        model_args.append("tokenized_requests=False")
    elif spec.tokenizer:
        model_args += ["tokenizer_backend=huggingface", f"tokenizer={spec.tokenizer}"]
    argv = [
        sys.executable, "-m", "harness.quality.lm_eval_main", "run",
        "--model", MODEL if chat else COMPLETIONS_MODEL,
        "--model_args", ",".join(model_args),
        "--tasks", ",".join(p.lm_eval_task for p in plans),
        "--include_path", str(include_dir),
        "--output_path", str(out_dir),
        "--log_samples",
        "--seed", str(spec.seed),
    ]
    if chat:
        argv.append("--apply_chat_template")
        if spec.fewshot_as_multiturn:
            argv.append("--fewshot_as_multiturn")
    if spec.limit is not None:
        argv += ["--limit", str(spec.limit)]
    return argv


@dataclass
class _Pass:
    """One lm-eval process: the tasks of one request type."""

    request: str
    plans: list[TaskPlan]
    argv: list[str]
    out_dir: Path
    log: Path
    proc: ManagedProcess | None = None


class QualityRun(SubprocessStage):
    """A started lm-eval subprocess (or two, one after the other); `finish()` waits and parses (harness/stage.py)."""

    name = "quality"

    def __init__(self, spec: QualitySpec, endpoint: Endpoint, folder: Path, cache_dir: Path | None = None):
        """`cache_dir`: keep lm-eval's request cache there (one variant's own: a resumed run skips answered samples)."""
        self.spec = spec
        self.endpoint = endpoint
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.data_dir = resolve_data_dir(spec)
        self.plans = render_tasks(spec, folder / "tasks", self.data_dir)
        self.cache = None
        if cache_dir is not None:  # lm-eval's own cache key ignores model and URL: the path carries them
            key = hashlib.sha256(f"{endpoint.engine}|{endpoint.model}|{spec.model_dump_json()}".encode()).hexdigest()[:12]
            cache_dir.mkdir(parents=True, exist_ok=True)
            self.cache = cache_dir / f"{folder.name}-{key}"
        # the reasoning counted per reply lives next to the cache: answers a resumed run takes from it keep their counts
        self.reasoning_log = Path(f"{self.cache}_reasoning.jsonl") if self.cache is not None else folder / "reasoning.jsonl"
        self.errors_log = folder / "error_answers.jsonl"
        self.errors_log.unlink(missing_ok=True)
        self.env = {"TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1", "OPENAI_API_KEY": endpoint.api_key or "EMPTY",
                    LOG_ENV: str(self.reasoning_log), PATTERN_ENV: spec.reasoning.pattern if spec.reasoning.strip else "",
                    ERRORS_ENV: str(self.errors_log)}
        if not any(p.needs_hub for p in self.plans):
            self.env["HF_DATASETS_OFFLINE"] = "1"
            self.env["HF_HUB_OFFLINE"] = "1"
        self.passes: list[_Pass] = []
        for request, suffix in (("chat", ""), ("completions", "_loglikelihood")):
            plans = [p for p in self.plans if p.request == request]
            if not plans:
                continue
            out_dir, log = folder / f"lm_eval{suffix}", folder / f"lm_eval{suffix}.log"
            argv = lm_eval_argv(spec, endpoint, folder / "tasks", out_dir, plans)
            if self.cache is not None:
                argv += ["--use_cache", f"{self.cache}{suffix}"]
            self.passes.append(_Pass(request, plans, argv, out_dir, log))
        self.current = 0

    # the pass running now (its process and log are what progress and errors show)
    @property
    def proc(self) -> ManagedProcess:
        p = self.passes[self.current]
        if p.proc is None:
            p.proc = ManagedProcess(p.argv, p.log, env=self.env)
        return p.proc

    @property
    def log(self) -> Path:
        return self.passes[self.current].log

    def start(self) -> "QualityRun":
        self.started = time.time()
        self.proc.start()
        return self

    def running(self) -> bool:
        """Still scoring; past `quality.timeout_s` lm-eval is stopped (the deadline is real, not checked afterwards)."""
        code = self.proc.poll()
        if code is not None:
            if code != 0 or self.stopped_early or self.current + 1 >= len(self.passes):
                return False
            self.current += 1  # the next pass (loglikelihood tasks) once the first has scored
            self.proc.start()
            return True
        return not self.past_deadline(self.spec.timeout_s)

    def sending(self) -> bool:
        """lm-eval is past its boot (imports, contexts) and sends requests, or has already exited."""
        return self.current > 0 or self.proc.poll() is not None or read_progress(self.log).sending

    def progress(self) -> Progress:
        """Requests answered of those to send (from lm-eval's log); "booting" before the first one."""
        state = read_progress(self.log)
        step = f" (pass {self.current + 1}/{len(self.passes)})" if len(self.passes) > 1 else ""
        if not state.sending:
            return Progress("quality", time.time() - self.started, None, "s", "booting lm-eval" + step)
        cached = f", {state.cached} from cache" if state.cached else ""
        return Progress("quality", state.answered, state.remaining, " requests", f"{time.time() - self.started:.0f}s{cached}{step}")

    def finish(self) -> QualityResult:
        while self.running():
            time.sleep(0.5)
        code = self.proc.poll()
        self.proc.stop()
        errors = read_errors(self.errors_log, owners(self.plans))
        if errors:  # no score computed on an error answer goes anywhere (lm-eval stopped before scoring them)
            raise QualityError(errors.message(self.errors_log, self.log))
        merged: dict = {}
        results_files: list[Path] = []
        for p in self.passes[: self.current + 1]:
            found = sorted(p.out_dir.rglob("results_*.json"))
            if not found:
                continue
            results_files.append(found[-1])
            data = json.loads(found[-1].read_text())
            for section in ("results", "group_subtasks", "n-samples", "configs"):
                merged.setdefault(section, {}).update(data.get(section, {}))
        if self.timed_out and not results_files:
            raise QualityError(f"lm-eval did not finish within quality.timeout_s={self.spec.timeout_s:.0f}s and was stopped; log: {self.log}")
        if not results_files or (code != 0 and not self.stopped_early and not self.timed_out):
            raise QualityError(f"lm-eval exited with code {code}; see {self.log}:\n" + self.proc.log_tail(30))
        ran = [plan for p in self.passes[: self.current + 1] for plan in p.plans]
        done = merged.get("results", {})  # the tasks lm-eval scored, over every pass's results file
        scores, counts = parse_results(merged, [p for p in ran if p.lm_eval_task in done or p.scope in ("group", "tag")])
        sample_files = sorted(f for p in self.passes for f in p.out_dir.rglob("samples_*.jsonl"))
        tables, reasoning = build_tables(sample_files, self.plans, read_reasoning(self.reasoning_log), merged.get("group_subtasks"))
        if self.cache is not None and self.reasoning_log.is_file():  # the run's artifacts keep a copy
            shutil.copyfile(self.reasoning_log, self.folder / "reasoning.jsonl")
        return QualityResult(
            scores=scores,
            samples=counts,
            plans=self.plans,
            results_file=results_files[0],
            sample_files=sample_files,
            duration_s=time.time() - self.started,
            log=self.log,
            flags=quality_flags(scores),
            reasoning=reasoning if self.spec.reasoning.strip else {},
            tables=write_tables(tables, self.folder / "tables"),
        )
