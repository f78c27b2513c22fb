"""Quality is never scored on errors: real lm-eval against real HTTP servers that answer its requests with errors.

- HTTP 200 with OpenAI's error JSON (all requests, or one of three), a 200 with no choices, and the same for a
  loglikelihood task: the quality stage fails with the count and the server's message; lm-eval scores nothing;
- an HTTP 400 with llama.cpp's context-size body: the server's cause is on screen, not only "400 Bad Request";
- through `harness run`: exit 2, the variant FAILED with that line, no quality/* metric in its MLflow run;
- a resumed quality stage asks only the requests that errored, and its reasoning counts cover the cached answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.errors import Failure, QualityError
from harness.quality.runner import QualityRun
from harness.server.endpoint import Endpoint
from harness.spec.model import QualitySpec
from tests.fakes import error_body_server
from tests.fakes.error_body_server import CONTEXT, MESSAGE

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
QUESTIONS = {"What is 2 + 2?": "4", "What colour is the sky on a clear day?": "blue", "How many legs does a cat have?": "4"}


@pytest.fixture
def server():
    servers = []

    def make(models: dict[str, str], fail: dict[str, str] | None = None):
        state = error_body_server.State(models, dict(QUESTIONS), fail)
        srv = error_body_server.start(state)
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}", state

    yield make
    for s in servers:
        s.shutdown()


def _tiny_qa(folder: Path) -> Path:
    data = folder / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in QUESTIONS.items()))
    path = folder / "tiny_qa.yaml"
    path.write_text(yaml.safe_dump({
        "task": "tiny_qa", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}}, "test_split": "test",
        "output_type": "generate_until", "doc_to_text": "{{question}}", "doc_to_target": "{{answer}}",
        "generation_kwargs": {"until": ["\n\n"], "max_gen_toks": 32, "do_sample": False, "temperature": 0.0},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True, "ignore_case": True}],
        "metadata": {"version": 1.0}}))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_error_answer_fails_the_stage_and_a_resume_asks_only_that_request(server, tmp_path):
    url, state = server({"m": "ok"}, fail={"How many legs does a cat have?": "error200"})
    endpoint = Endpoint(base_url=url, model="m", metrics_url="", engine="openai")
    spec = QualitySpec(tasks=[str(_tiny_qa(tmp_path))], num_concurrent=2)
    first = QualityRun(spec, endpoint, tmp_path / "a" / "quality", cache_dir=tmp_path / "cache")
    with pytest.raises(QualityError) as err:
        first.start().finish()
    headline = Failure.of("quality", err.value).headline
    assert headline.startswith(f"quality: 1 of 3 tiny_qa requests got an error answer from the server: '{MESSAGE}'"), headline
    assert "no score is computed from error bodies" in headline
    assert not list((tmp_path / "a" / "quality").rglob("results_*.json"))  # lm-eval stopped before scoring anything
    (errored,) = [r for r in _lines(first.errors_log) if "status" in r]
    assert (errored["task"], errored["status"], errored["message"]) == ("harness_tiny_qa", 200, MESSAGE)
    # the server recovers; the resumed variant asks only the request that errored (the good answers were cached)
    state.fail.clear()
    again = QualityRun(spec, endpoint, tmp_path / "b" / "quality", cache_dir=tmp_path / "cache")
    result = again.start().finish()
    assert state.asked == {"What is 2 + 2?": 1, "What colour is the sky on a clear day?": 1, "How many legs does a cat have?": 2}
    assert result.scores["tiny_qa"]["exact_match"].value == 1.0
    # the reasoning counts cover the two answers taken from the cache, as in a fresh run
    stats = result.reasoning["tiny_qa"]
    assert (stats.replies, stats.with_reasoning) == (3, 3)
    metrics = result.flat_metrics()
    assert metrics["quality/tiny_qa/reasoning_replies"] == 1.0 and metrics["quality/tiny_qa/reasoning_chars_mean"] > 0
    assert (tmp_path / "b" / "quality" / "reasoning.jsonl").is_file()  # a copy among the run's artifacts


def test_a_400_and_a_reply_with_no_choices_on_lm_evals_synchronous_path(server, tmp_path):
    # one request at a time, in document order: a 200 with no choices, a real answer, then llama.cpp's 400
    url, state = server({"m": "ok"}, fail={"What is 2 + 2?": "nochoices", "How many legs does a cat have?": "ctx400"})
    spec = QualitySpec(tasks=[str(_tiny_qa(tmp_path))], num_concurrent=1)
    run = QualityRun(spec, Endpoint(base_url=url, model="m", metrics_url="", engine="openai"), tmp_path / "q")
    with pytest.raises(QualityError) as err:
        run.start().finish()
    headline = Failure.of("quality", err.value).headline
    assert headline.startswith(f"quality: lm-eval stopped: the server answered HTTP 400 Bad Request to 1 tiny_qa request: '{CONTEXT}'; "
                               "1 more request got an error body with HTTP 200"), headline
    lines = [r for r in _lines(run.errors_log) if "status" in r]
    assert [(r["status"], r["message"]) for r in lines][0] == (200, "a reply with no choices")
    assert {(r["status"], r["message"], r["request"]) for r in lines[1:]} == {(400, CONTEXT, lines[1]["request"])}  # retried: one request
    assert state.asked["How many legs does a cat have?"] == len(lines) - 1 >= 2


def test_error_bodies_on_a_loglikelihood_task_fail_the_stage(tmp_path):
    from tests.fakes import fake_scoring

    srv = fake_scoring.start(fake_scoring.State({"blue"}, error="out of memory"))
    try:
        data = tmp_path / "mc.jsonl"
        data.write_text("".join(json.dumps({"q": q, "choices": c, "label": 1}) + "\n"
                                for q, c in [("Sky?", ["red", "blue"]), ("Grass?", ["green", "blue", "pink"])]))
        path = tmp_path / "tiny_mc.yaml"
        path.write_text(yaml.safe_dump({
            "task": "tiny_mc", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}}, "test_split": "test",
            "output_type": "multiple_choice", "doc_to_text": "Q: {{q}}\nA:", "doc_to_choice": "{{choices}}", "doc_to_target": "label",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}], "metadata": {"version": 1.0}}))
        endpoint = Endpoint(base_url=f"http://127.0.0.1:{srv.server_address[1]}", model="scorer", metrics_url="", engine="vllm")
        with pytest.raises(QualityError, match=r"^5 of 5 tiny_mc requests got an error answer from the server: 'out of memory'"):
            QualityRun(QualitySpec(tasks=[str(path)], num_concurrent=2), endpoint, tmp_path / "q").start().finish()
    finally:
        srv.shutdown()
    assert not list((tmp_path / "q").rglob("results_*.json"))


def test_harness_run_fails_a_variant_scored_on_error_bodies_and_shows_a_400_cause(server, tmp_path, data_dir, mlflow_runs):
    url, state = server({"overloaded": "error200", "small-ctx": "ctx400"})
    spec = tmp_path / "errors.yaml"
    spec.write_text(f"""
name: quality-errors
server: {{kind: openai, startup_timeout_s: 60, openai: {{base_url: "{url}"}}}}
variants:
  - name: overloaded
    server: {{served_model_name: overloaded}}
  - name: small-ctx
    server: {{served_model_name: small-ctx}}
load: {{enabled: false}}
quality: {{tasks: [gsm8k], limit: 3, num_fewshot: {{gsm8k: 0}}, max_gen_toks: {{gsm8k: 32}}, idle_baseline: false}}
metrics: {{enabled: false}}
tracking: {{run_dir: "{tmp_path / 'runs'}"}}
""")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "PYTHONPATH": str(REPO),
           "HARNESS_DATA_DIR": str(data_dir)}
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(spec), "--no-compare"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in out, out[-4000:]
    assert (f"[1/2] overloaded: FAILED: quality: 3 of 3 gsm8k requests got an error answer from the server: '{MESSAGE}' — "
            "no score is computed from error bodies") in out, out[-4000:]
    line = next((ln for ln in out.splitlines() if ln.startswith("[2/2] small-ctx: FAILED")), "")
    assert "quality: lm-eval stopped: the server answered HTTP 400 Bad Request" in line and CONTEXT in line, out[-4000:]
    _, parents, children = mlflow_runs(tmp_path, "quality-errors")
    assert parents[0].info.status == "FAILED"
    for name in ("overloaded", "small-ctx"):
        run = children[name]
        assert run.info.status == "FAILED" and run.data.tags["harness.failed_stage"] == "quality", run.data.tags
        assert not [m for m in run.data.metrics if m.startswith("quality")], run.data.metrics
    assert MESSAGE in children["overloaded"].data.tags["harness.error"] and CONTEXT in children["small-ctx"].data.tags["harness.error"]
