"""Run lm-eval (local-chat-completions) against the endpoint as a subprocess.

One lm-eval process per variant, with no request cache: lm-eval's cache key ignores the model
and URL, so a shared cache would hand one config's answers to another.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import Failure, QualityError
from harness.quality.log_progress import read_progress
from harness.quality.tasks import TaskPlan, render_tasks, resolve_data_dir
from harness.server.endpoint import Endpoint
from harness.server.process import ManagedProcess
from harness.spec.model import QualitySpec
from harness.stage import Progress

# lm-eval result keys -> harness metric names, per task
TASK_METRICS = {
    "gsm8k": {
        "exact_match,strict-match": "exact_match_strict",
        "exact_match,flexible-extract": "exact_match_flexible",
    },
    "ifeval": {
        "prompt_level_strict_acc,none": "prompt_level_strict_acc",
        "inst_level_strict_acc,none": "inst_level_strict_acc",
        "prompt_level_loose_acc,none": "prompt_level_loose_acc",
        "inst_level_loose_acc,none": "inst_level_loose_acc",
    },
}

# a strict-vs-flexible GSM8K gap above this is flagged as a prompt-format problem
GSM8K_FORMAT_GAP = 0.10


@dataclass(frozen=True)
class Score:
    value: float
    stderr: float | None


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

    def flat_metrics(self, prefix: str = "quality/") -> dict[str, float]:
        out: dict[str, float] = {}
        for task, metrics in self.scores.items():
            for name, score in metrics.items():
                out[f"{prefix}{task}/{name}"] = score.value
                if score.stderr is not None:
                    out[f"{prefix}{task}/{name}_stderr"] = score.stderr
            out[f"{prefix}{task}/samples"] = float(self.samples.get(task, 0))
        gsm = self.scores.get("gsm8k", {})
        if "exact_match_strict" in gsm and "exact_match_flexible" in gsm:
            out[f"{prefix}gsm8k/flexible_minus_strict"] = gsm["exact_match_flexible"].value - gsm["exact_match_strict"].value
        return out


def lm_eval_argv(spec: QualitySpec, endpoint: Endpoint, include_dir: Path, out_dir: Path, plans: list[TaskPlan]) -> list[str]:
    model_args = ",".join(
        [
            f"model={endpoint.model}",
            f"base_url={endpoint.base_url}/v1/chat/completions",
            f"num_concurrent={spec.num_concurrent}",
            "max_retries=3",
            "tokenized_requests=False",
            f"timeout={int(spec.timeout_s)}",
        ]
    )
    argv = [
        sys.executable, "-m", "lm_eval", "run",
        "--model", "local-chat-completions",
        "--model_args", model_args,
        "--tasks", ",".join(p.lm_eval_task for p in plans),
        "--include_path", str(include_dir),
        "--apply_chat_template",
        "--output_path", str(out_dir),
        "--log_samples",
        "--seed", str(spec.seed),
    ]
    if spec.fewshot_as_multiturn:
        argv.append("--fewshot_as_multiturn")
    if spec.limit is not None:
        argv += ["--limit", str(spec.limit)]
    return argv


def _score(entry: dict, key: str) -> Score | None:
    if key not in entry:
        return None
    metric, _, filt = key.partition(",")
    err = entry.get(f"{metric}_stderr,{filt}")
    try:
        stderr = float(err) if err is not None else None
    except (TypeError, ValueError):
        stderr = None  # lm-eval writes "N/A" where it has none
    if stderr is not None and math.isnan(stderr):
        stderr = None
    return Score(float(entry[key]), stderr)


def parse_results(results: dict, plans: list[TaskPlan]) -> tuple[dict[str, dict[str, Score]], dict[str, int]]:
    """Pick the harness metrics out of an lm-eval results JSON."""
    scores: dict[str, dict[str, Score]] = {}
    counts: dict[str, int] = {}
    for plan in plans:
        entry = results.get("results", {}).get(plan.lm_eval_task)
        if entry is None:
            raise QualityError(f"lm-eval results have no entry for {plan.lm_eval_task}")
        scores[plan.task] = {}
        for key, name in TASK_METRICS[plan.task].items():
            s = _score(entry, key)
            if s is not None:
                scores[plan.task][name] = s
        n = results.get("n-samples", {}).get(plan.lm_eval_task, {})
        counts[plan.task] = int(n.get("effective", n.get("original", 0))) if isinstance(n, dict) else 0
    return scores, counts


def quality_flags(scores: dict[str, dict[str, Score]]) -> list[str]:
    flags = []
    gsm = scores.get("gsm8k", {})
    if "exact_match_strict" in gsm and "exact_match_flexible" in gsm:
        gap = gsm["exact_match_flexible"].value - gsm["exact_match_strict"].value
        if gap > GSM8K_FORMAT_GAP or (gsm["exact_match_strict"].value == 0 and gsm["exact_match_flexible"].value > 0):
            flags.append(
                f"gsm8k: flexible-extract exceeds strict-match by {gap:.3f}; the model answers but not in the "
                "'#### N' format: a prompt-format problem, not necessarily a model problem"
            )
    return flags


class QualityRun:
    """A started lm-eval subprocess; `finish()` waits and parses (the quality stage, harness/stage.py)."""

    name = "quality"

    def __init__(self, spec: QualitySpec, endpoint: Endpoint, folder: Path, cache_dir: Path | None = None):
        """`cache_dir`: keep lm-eval's request cache there (one variant's own: a resumed run skips answered samples)."""
        self.spec = spec
        self.endpoint = endpoint
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.data_dir = resolve_data_dir(spec)
        self.plans = render_tasks(spec, folder / "tasks", self.data_dir)
        self.out_dir = folder / "lm_eval"
        self.log = folder / "lm_eval.log"
        env = {"TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
        key = endpoint.api_key
        env["OPENAI_API_KEY"] = key or "EMPTY"
        if self.data_dir is not None:
            env["HF_DATASETS_OFFLINE"] = "1"
            env["HF_HUB_OFFLINE"] = "1"
        argv = lm_eval_argv(spec, endpoint, folder / "tasks", self.out_dir, self.plans)
        if cache_dir is not None:  # lm-eval's own cache key ignores model and URL: the path carries them
            key = hashlib.sha256(f"{endpoint.engine}|{endpoint.model}|{spec.model_dump_json()}".encode()).hexdigest()[:12]
            cache_dir.mkdir(parents=True, exist_ok=True)
            self.cache = cache_dir / f"{folder.name}-{key}"
            argv += ["--use_cache", str(self.cache)]
        else:
            self.cache = None
        self.proc = ManagedProcess(argv, self.log, env=env)
        self.started = 0.0
        self.stopped_early = False
        self.timed_out = False

    def start(self) -> "QualityRun":
        self.started = time.time()
        self.proc.start()
        return self

    def running(self) -> bool:
        """Still scoring; past `quality.timeout_s` lm-eval is stopped (the deadline is real, not checked afterwards)."""
        if self.proc.poll() is not None:
            return False
        if time.time() - self.started > self.spec.timeout_s:
            self.timed_out = True
            self.proc.stop()
            return False
        return True

    def stop(self) -> None:
        """Stop early (a fault elsewhere, Ctrl-C); `finish()` still parses results lm-eval had written."""
        self.stopped_early = True
        self.proc.stop()

    def sending(self) -> bool:
        """lm-eval is past its boot (imports, contexts) and sends requests, or has already exited."""
        return self.proc.poll() is not None or read_progress(self.log).sending

    def progress(self) -> Progress:
        """Requests answered of those to send (from lm-eval's log); "booting" before the first one."""
        state = read_progress(self.log)
        if not state.sending:
            return Progress("quality", time.time() - self.started, None, "s", "booting lm-eval")
        cached = f", {state.cached} from cache" if state.cached else ""
        return Progress("quality", state.answered, state.remaining, " requests", f"{time.time() - self.started:.0f}s{cached}")

    def finish(self) -> QualityResult:
        while self.running():
            time.sleep(0.5)
        code = self.proc.poll()
        self.proc.stop()
        results_files = sorted(self.out_dir.rglob("results_*.json"))
        if self.timed_out and not results_files:
            raise QualityError(f"lm-eval did not finish within quality.timeout_s={self.spec.timeout_s:.0f}s and was stopped; log: {self.log}")
        if not results_files or (code != 0 and not self.stopped_early and not self.timed_out):
            raise QualityError(f"lm-eval exited with code {code}; see {self.log}:\n" + self.proc.log_tail(30))
        results = json.loads(results_files[-1].read_text())
        scores, counts = parse_results(results, self.plans)
        return QualityResult(
            scores=scores,
            samples=counts,
            plans=self.plans,
            results_file=results_files[-1],
            sample_files=sorted(self.out_dir.rglob("samples_*.jsonl")),
            duration_s=time.time() - self.started,
            log=self.log,
            flags=quality_flags(scores),
        )
