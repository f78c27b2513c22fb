"""Quality checks before anything is launched: every task is known, its data is there, its API is served.

- a task (or a group's member) that reads a Hub dataset while the Hub is off (HF_DATASETS_OFFLINE /
  HF_HUB_OFFLINE, or huggingface.co out of reach) fails here, naming the task and the data-directory fix;
- a loglikelihood task (multiple_choice: MMLU, ARC, HellaSwag, ...) fails here on an engine that returns no
  prompt log-probabilities (the engine registry's `prompt_logprobs`; llama.cpp has none).
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import QualityError
from harness.quality.tasks import SHARED_NLTK, TaskPlan, plan_tasks, resolve_data_dir
from harness.spec.model import QualitySpec


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    import socket

    try:
        socket.create_connection(("huggingface.co", 443), timeout_s).close()
        return True
    except OSError:
        return False


def offline(env: dict[str, str] | os._Environ[str]) -> bool:
    return any(env.get(v) == "1" for v in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))


def _hub_message(plans: list[TaskPlan], why: str, data_dir: Path | None) -> str:
    where = str(data_dir) if data_dir else "a folder set as HARNESS_DATA_DIR (or quality.data_dir)"
    parts = []
    for p in plans:
        if p.task == "gsm8k":
            fix = f"{where}/gsm8k/{{train,test}}.jsonl"
        elif p.task == "ifeval":
            fix = f"{where}/ifeval/input_data.jsonl"
        elif p.scope == "task":
            names = ",".join(p.splits) or "test"
            fix = f"{where}/{p.task}/{{{names}}}.jsonl (.json or .parquet too; the evaluated split at least)"
        else:
            fix = f"nothing: a {p.scope}'s members read the Hub; list them as tasks with their own data folders"
        shown = "GSM8K" if p.task == "gsm8k" else p.task
        parts.append(f"{shown} (Hub dataset {p.dataset or '?'}; local data: {fix})")
    return (f"quality.tasks: {'; '.join(parts)} need{'s' if len(plans) == 1 else ''} the Hub, and {why}. "
            "Supply the data locally as shown, allow the Hub, or drop the task (quality.enabled: false turns quality off)")


def check_engines(plans: list[TaskPlan], engine_kinds: list[str]) -> None:
    """QualityError for loglikelihood tasks on an engine that cannot score prompts (before any server starts)."""
    from harness.server.engines import engine

    scored = [p.task for p in plans if p.request == "completions"]
    if not scored:
        return
    for kind in dict.fromkeys(engine_kinds):
        if engine(kind).prompt_logprobs is False:
            raise QualityError(
                f"quality.tasks: {', '.join(scored)} {'is a loglikelihood task' if len(scored) == 1 else 'are loglikelihood tasks'} "
                f"(scored from prompt log-probabilities, lm-eval's local-completions), which server.kind={kind} does not return; "
                "serve with an engine that does (kind: vllm), use a generative variant of the task "
                "(e.g. mmlu_generative, arc_challenge_chat), or drop it")


def check(spec: QualitySpec, environ: dict[str, str] | None = None, engine_kinds: list[str] | None = None) -> Path | None:
    """The data directory (or None: the Hub) once every task is planned and its data and API are available.

    Also points NLTK_DATA (which IFEval's scorer needs) at ../shared/nltk_data when it is unset and that folder exists.
    """
    env = os.environ if environ is None else environ
    if not spec.enabled:
        return None
    data = resolve_data_dir(spec, env)
    if "ifeval" in spec.tasks and not env.get("NLTK_DATA") and SHARED_NLTK.is_dir():
        env["NLTK_DATA"] = str(SHARED_NLTK.resolve())
    plans = [plan for plan, _ in plan_tasks(spec, data)]
    if engine_kinds:
        check_engines(plans, engine_kinds)
    hub = [p for p in plans if p.needs_hub]
    if hub:
        if offline(env):
            raise QualityError(_hub_message(hub, "HF_DATASETS_OFFLINE/HF_HUB_OFFLINE is set", data))
        if not _hub_reachable():
            raise QualityError(_hub_message(hub, "the Hub (huggingface.co) is out of reach", data))
    return data
