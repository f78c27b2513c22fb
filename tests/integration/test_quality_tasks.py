"""Any lm-eval task, run by real lm-eval: a custom task file and an official task (nq_open) offline from a data
directory made here, against the real llama-server; reasoning removed before scoring against a real HTTP fake
reasoning server; per-sample tables logged to a real MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.quality.runner import QualityRun
from harness.server.endpoint import Endpoint
from harness.spec.model import QualitySpec
from tests.fakes.reasoning_server import THOUGHT, State, start

pytestmark = pytest.mark.integration

QUESTIONS = {"What is 2 + 2?": "4", "What colour is the sky on a clear day?": "blue", "How many legs does a cat have?": "4"}


def _custom_task(folder, name="tiny_qa"):
    data = folder / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in QUESTIONS.items()))
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "task": name, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}}, "test_split": "test",
        "output_type": "generate_until", "doc_to_text": "{{question}}", "doc_to_target": "{{answer}}",
        "generation_kwargs": {"until": ["\n\n"], "max_gen_toks": 16, "do_sample": False, "temperature": 0.0},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True, "ignore_case": True,
                         "ignore_punctuation": True}],
        "metadata": {"version": 1.0},
    }))
    return path


def _rows(result, task):
    table = json.loads(result.tables[task].read_text())
    return [dict(zip(table["columns"], r)) for r in table["data"]]


def test_a_custom_task_file_over_local_data_against_llama_server(llama_server, tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    spec = QualitySpec(tasks=[str(_custom_task(tmp_path))], num_concurrent=2, data_dir=None)
    result = QualityRun(spec, llama_server.endpoint, tmp_path / "q").start().finish()
    (plan,) = result.plans
    assert (plan.task, plan.lm_eval_task, plan.request, plan.data_source) == ("tiny_qa", "harness_tiny_qa", "chat", "local")
    assert set(result.scores["tiny_qa"]) == {"exact_match"} and 0.0 <= result.scores["tiny_qa"]["exact_match"].value <= 1.0
    assert result.samples == {"tiny_qa": 3}
    rows = _rows(result, "tiny_qa")
    assert sorted(r["prompt"] for r in rows) == sorted(QUESTIONS)  # the questions from the local file reached the model
    assert all(isinstance(r["reply"], str) and r["reply"].strip() for r in rows) and {r["exact_match"] for r in rows} <= {0.0, 1.0}
    assert result.flat_metrics()["quality/tiny_qa/samples"] == 3.0
    assert "quality/tiny_qa/reasoning_chars_mean" in result.flat_metrics()  # counted (0 for a model that does not think)


def test_an_official_task_runs_offline_from_a_data_directory(llama_server, tmp_path, monkeypatch):
    data = tmp_path / "data" / "nq_open"
    data.mkdir(parents=True)
    rows = [{"question": "who wrote the novel moby dick", "answer": ["Herman Melville"]},
            {"question": "what is the capital city of france", "answer": ["Paris"]},
            {"question": "how many days are there in a week", "answer": ["seven", "7"]}]
    (data / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = QualitySpec(tasks=["nq_open"], data_dir=str(tmp_path / "data"), num_concurrent=2)
    result = QualityRun(spec, llama_server.endpoint, tmp_path / "q").start().finish()
    assert set(result.scores["nq_open"]) == {"exact_match_remove_whitespace"}  # the official filter and metric
    assert result.samples == {"nq_open": 3}
    cfg = json.loads(result.results_file.read_text())["configs"]["harness_nq_open"]
    assert cfg["dataset_path"] == "json" and cfg["dataset_kwargs"]["data_files"] == {"validation": str(data / "validation.jsonl")}
    assert cfg["doc_to_text"] == "Q: {{question}}?\nA:"  # the official prompt, untouched
    prompts = {r["prompt"] for r in _rows(result, "nq_open")}
    assert all(any(r["question"] in p for p in prompts) for r in rows)
    assert result.plans[0].data_files == (str(data / "validation.jsonl"),)
    from harness.report.significance import read_samples  # the report's paired test reads lm-eval's real sample lines

    per_doc = read_samples(result.sample_files)["quality/nq_open/exact_match_remove_whitespace"]
    assert sorted(per_doc) == [0, 1, 2] and set(per_doc.values()) <= {0.0, 1.0}
    assert sum(per_doc.values()) / 3 == result.scores["nq_open"]["exact_match_remove_whitespace"].value


@pytest.fixture
def reasoner():
    servers = []

    def make(**kw):
        state = State(dict(QUESTIONS), **kw)
        srv = start(state)
        servers.append(srv)
        port = srv.server_address[1]
        return Endpoint(base_url=f"http://127.0.0.1:{port}", model=state.model, metrics_url="", engine="openai"), state

    yield make
    for s in servers:
        s.shutdown()


SHAPES = {"What is 2 + 2?": "inline", "What colour is the sky on a clear day?": "field", "How many legs does a cat have?": "open"}


def test_reasoning_is_removed_before_scoring_and_counted(reasoner, tmp_path):
    endpoint, state = reasoner(shapes=SHAPES)
    spec = QualitySpec(tasks=[str(_custom_task(tmp_path))], num_concurrent=2)
    result = QualityRun(spec, endpoint, tmp_path / "q").start().finish()
    assert result.scores["tiny_qa"]["exact_match"].value == 1.0  # every answer right once the thought is gone
    stats = result.reasoning["tiny_qa"]
    assert (stats.replies, stats.with_reasoning) == (3, 3)
    assert len(THOUGHT) <= stats.chars_mean <= len(THOUGHT) + len("<think></think>")
    rows = _rows(result, "tiny_qa")
    assert all(r["reply"] == QUESTIONS[r["prompt"]] and r["reasoning_chars"] >= len(THOUGHT) for r in rows)
    assert len(state.bodies) == 3


def test_with_strip_off_the_reply_is_scored_as_sent(reasoner, tmp_path):
    endpoint, _ = reasoner(shapes=SHAPES)
    spec = QualitySpec(tasks=[str(_custom_task(tmp_path))], num_concurrent=2, reasoning={"strip": False})
    result = QualityRun(spec, endpoint, tmp_path / "q").start().finish()
    by_prompt = {r["prompt"]: r for r in _rows(result, "tiny_qa")}
    # inline and open thoughts stay in the content and spoil exact match; a separate reasoning field is never content
    assert [by_prompt[q]["exact_match"] for q in SHAPES] == [0.0, 1.0, 0.0]
    assert THOUGHT in by_prompt["What is 2 + 2?"]["reply"]
    assert result.reasoning == {} and "quality/tiny_qa/reasoning_chars_mean" not in result.flat_metrics()


def test_sample_tables_are_mlflow_tables_logged_once(tmp_path):
    from mlflow.tracking import MlflowClient

    from harness.tracking.tables import log_tables

    folder = tmp_path / "variant"
    (folder / "quality" / "tables").mkdir(parents=True)
    table = {"columns": ["doc_id", "prompt", "reply", "exact_match"], "data": [[0, "What is 2 + 2?", "4", 1.0], [1, "sky?", "red", 0.0]]}
    (folder / "quality" / "tables" / "tiny_qa.json").write_text(json.dumps(table))
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    exp = client.create_experiment("t", artifact_location=str(tmp_path / "artifacts"))
    run_id = client.create_run(exp).info.run_id
    tables = {"tables/quality_tiny_qa.json": "quality/tables/tiny_qa.json"}
    log_tables(client, run_id, folder, tables)
    log_tables(client, run_id, folder, tables)  # a re-sent run (harness sync) must not double the rows
    tag = json.loads(client.get_run(run_id).data.tags["mlflow.loggedArtifacts"])
    assert tag == [{"path": "tables/quality_tiny_qa.json", "type": "table"}]  # what the MLflow UI's evaluation view reads
    (tmp_path / "dl").mkdir()
    logged = json.loads(Path(client.download_artifacts(run_id, "tables/quality_tiny_qa.json", str(tmp_path / "dl"))).read_text())
    assert logged["columns"] == table["columns"] and logged["data"] == table["data"]  # pandas' split layout, rows once


MC = [("What colour is the sky?", ["red", "blue", "green"], 1), ("What is 2 + 2?", ["3", "4", "5"], 1),
      ("What is the capital of France?", ["London", "Paris", "Rome"], 1), ("Is ice hot or cold?", ["hot", "cold"], 1)]


def test_a_loglikelihood_task_is_scored_from_prompt_logprobs_through_local_completions(tmp_path):
    from tests.fakes import fake_scoring

    state = fake_scoring.State({"blue", "4", "paris", "hot"})  # the toy model likes these: 3 of 4 right
    srv = fake_scoring.start(state)
    try:
        data = tmp_path / "mc.jsonl"
        data.write_text("".join(json.dumps({"q": q, "choices": c, "label": a}) + "\n" for q, c, a in MC))
        path = tmp_path / "tiny_mc.yaml"
        path.write_text(yaml.safe_dump({
            "task": "tiny_mc", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}}, "test_split": "test",
            "output_type": "multiple_choice", "doc_to_text": "Q: {{q}}\nA:", "doc_to_choice": "{{choices}}", "doc_to_target": "label",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}],
            "metadata": {"version": 1.0}}))
        endpoint = Endpoint(base_url=f"http://127.0.0.1:{srv.server_address[1]}", model="scorer", metrics_url="", engine="vllm")
        run = QualityRun(QualitySpec(tasks=[str(path)], num_concurrent=1), endpoint, tmp_path / "q")
        assert [p.request for p in run.passes] == ["completions"] and "harness-completions" in run.passes[0].argv
        result = run.start().finish()
    finally:
        srv.shutdown()
    assert result.scores["tiny_mc"]["acc"].value == pytest.approx(0.75) and "acc_norm" in result.scores["tiny_mc"]
    assert result.samples == {"tiny_mc": 4}
    assert state.completions and all(b["echo"] and b["logprobs"] == 1 for b in state.completions)
    rows = {r["doc_id"]: r for r in _rows(result, "tiny_mc")}
    assert [rows[i]["extracted"] for i in range(4)] == [1, 1, 1, 0]  # the chosen index per question
    assert (tmp_path / "q" / "lm_eval_loglikelihood.log").is_file() and not (tmp_path / "q" / "lm_eval.log").exists()
