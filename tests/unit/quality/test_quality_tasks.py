"""Any lm-eval task: names resolved from lm-eval's own task YAML, metrics read generically, checks before launch."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.errors import QualityError
from harness.quality.catalog import lookup
from harness.quality.preflight import check
from harness.quality.results import entry_scores, metric_name, parse_results
from harness.quality.tasks import plan_tasks
from harness.spec.model import QualitySpec
from harness.tracking.contract import check_gates, is_metric
from harness.spec.gates import GatesSpec

OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


def _plans(spec: QualitySpec, data=None):
    return {p.task: p for p, _ in plan_tasks(spec, data)}


# an lm-eval 0.4.13 results JSON in miniature: a task with two filters, one with "N/A" stderr, a group with members
RESULTS = {
    "results": {
        "harness_gsm8k": {"alias": "harness_gsm8k", "name": "harness_gsm8k", "sample_len": 4,
                          "exact_match,strict-match": 0.25, "exact_match_stderr,strict-match": 0.25,
                          "exact_match,flexible-extract": 0.5, "exact_match_stderr,flexible-extract": 0.2886},
        "harness_nq_open": {"alias": "harness_nq_open", "exact_match,remove_whitespace": 0.1, "exact_match_stderr,remove_whitespace": "N/A"},
        "mmlu": {"alias": "mmlu", "acc,none": 0.4, "acc_stderr,none": 0.01},
        "mmlu_stem": {"alias": " - stem", "acc,none": 0.3, "acc_stderr,none": 0.02},
        "mmlu_anatomy": {"alias": "  - anatomy", "acc,none": 0.2, "acc_stderr,none": 0.03, "acc_norm,none": 0.25},
        "mmlu_astronomy": {"alias": "  - astronomy", "acc,none": 0.4, "acc_stderr,none": 0.04},
    },
    "group_subtasks": {"mmlu": ["mmlu_stem"], "mmlu_stem": ["mmlu_anatomy", "mmlu_astronomy"],
                       "harness_gsm8k": [], "harness_nq_open": []},
    "n-samples": {"harness_gsm8k": {"original": 1319, "effective": 4}, "harness_nq_open": {"original": 3610, "effective": 10},
                  "mmlu_anatomy": {"original": 135, "effective": 5}, "mmlu_astronomy": {"original": 152, "effective": 5}},
}


def test_metrics_are_read_generically_every_filter_with_stderr_and_the_old_names_kept():
    spec = QualitySpec(tasks=["gsm8k", "nq_open", "mmlu"])
    scores, counts = parse_results(RESULTS, list(_plans(spec).values()))
    assert {k: (s.value, s.stderr) for k, s in scores["gsm8k"].items()} == {
        "exact_match_strict": (0.25, 0.25), "exact_match_flexible": (0.5, 0.2886)}
    assert scores["nq_open"]["exact_match_remove_whitespace"].value == 0.1
    assert scores["nq_open"]["exact_match_remove_whitespace"].stderr is None  # "N/A": no stderr, not a crash
    assert scores["mmlu"]["acc"].value == 0.4 and scores["mmlu_stem"]["acc"].stderr == 0.02
    assert set(scores["mmlu_anatomy"]) == {"acc", "acc_norm"}  # members under their own names, every metric
    assert counts == {"gsm8k": 4, "nq_open": 10, "mmlu": 10, "mmlu_stem": 10, "mmlu_anatomy": 5, "mmlu_astronomy": 5}
    assert metric_name("prompt_level_strict_acc", "none") == "prompt_level_strict_acc"
    assert metric_name("exact_match", "get answer/x") == "exact_match_get_answer_x"
    assert entry_scores({"alias": "x", "acc,none": True, "f1,none": float("nan")}) == {}  # not numbers: not metrics


def test_a_missing_task_entry_is_an_error():
    spec = QualitySpec(tasks=["ifeval"])
    with pytest.raises(QualityError, match="no entry for harness_ifeval"):
        parse_results(RESULTS, list(_plans(spec).values()))


def test_names_resolve_to_tasks_groups_and_their_request_type():
    assert lookup("mmlu").scope == "group" and len(lookup("mmlu").leaves) == 57
    assert {lf.output_type for lf in lookup("mmlu").leaves} == {"multiple_choice"}
    plans = _plans(QualitySpec(tasks=["gsm8k", "arc_easy", "mmlu", "bbh"]))
    assert {t: p.request for t, p in plans.items()} == {"gsm8k": "chat", "arc_easy": "completions", "mmlu": "completions", "bbh": "chat"}
    assert plans["arc_easy"].lm_eval_task == "harness_arc_easy" and plans["mmlu"].lm_eval_task == "mmlu"
    with pytest.raises(QualityError, match="no task, group or tag named 'gsm8kk'; did you mean gsm8k"):
        plan_tasks(QualitySpec(tasks=["gsm8kk"]), None)
    with pytest.raises(QualityError, match="truthfulqa mixes generative tasks"):
        plan_tasks(QualitySpec(tasks=["truthfulqa"]), None)


def test_a_hub_only_task_offline_fails_early_naming_the_task_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ../shared/datasets next to it
    with pytest.raises(QualityError) as err:
        check(QualitySpec(tasks=["nq_open"]), dict(OFFLINE))
    text = str(err.value)
    assert "nq_open (Hub dataset google-research-datasets/nq_open" in text and "HF_DATASETS_OFFLINE/HF_HUB_OFFLINE is set" in text
    assert "HARNESS_DATA_DIR (or quality.data_dir)/nq_open/{train,validation}.jsonl" in text
    # a data directory holding its split fixes it
    (tmp_path / "data" / "nq_open").mkdir(parents=True)
    (tmp_path / "data" / "nq_open" / "validation.jsonl").write_text('{"question": "q", "answer": ["a"]}\n')
    assert check(QualitySpec(tasks=["nq_open"], data_dir=str(tmp_path / "data")), dict(OFFLINE)) == (tmp_path / "data").resolve()


def test_a_group_offline_says_its_members_read_the_hub(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(QualityError, match=r"mmlu \(Hub dataset cais/mmlu; local data: nothing: a group's members read the Hub"):
        check(QualitySpec(tasks=["mmlu"]), dict(OFFLINE), ["vllm"])


def test_a_loglikelihood_task_on_llamacpp_fails_before_launching(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d" / "arc_easy").mkdir(parents=True)
    (tmp_path / "d" / "arc_easy" / "test.jsonl").write_text("{}\n")
    spec = QualitySpec(tasks=["arc_easy"], data_dir=str(tmp_path / "d"))
    with pytest.raises(QualityError, match=r"arc_easy is a loglikelihood task .* which server.kind=llamacpp does not return; "
                                           r"serve with an engine that does \(kind: vllm\)"):
        check(spec, dict(OFFLINE), ["vllm", "llamacpp"])
    assert check(spec, dict(OFFLINE), ["vllm"]) == (tmp_path / "d").resolve()
    assert check(spec, dict(OFFLINE), ["openai"]) is not None  # an attached endpoint: unknown, lm-eval will say


def test_the_pipeline_refuses_before_any_server_starts(tmp_path, monkeypatch):
    from harness import run_experiment
    from harness.spec import build_spec

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d" / "arc_easy").mkdir(parents=True)
    (tmp_path / "d" / "arc_easy" / "test.jsonl").write_text("{}\n")
    spec = build_spec({"name": "t", "server": {"model": str(tmp_path / "absent.gguf")},  # never resolved: nothing starts
                       "quality": {"tasks": ["arc_easy"], "data_dir": str(tmp_path / "d")},
                       "tracking": {"uri": f"sqlite:///{tmp_path}/m.db"}}, {}, [])
    with pytest.raises(QualityError, match="arc_easy is a loglikelihood task"):
        run_experiment(spec)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "m.db").exists()


def test_a_data_directory_supplies_an_official_tasks_splits(tmp_path):
    folder = tmp_path / "nq_open"
    folder.mkdir()
    (folder / "validation.jsonl").write_text('{"question": "q", "answer": ["a"]}\n')
    (plan, text), = plan_tasks(QualitySpec(tasks=["nq_open"], num_fewshot={"nq_open": 0}), tmp_path)
    cfg = yaml.safe_load(text)
    assert cfg["task"] == "harness_nq_open" and cfg["include"].endswith("lm_eval/tasks/nq_open/nq_open.yaml")
    assert cfg["dataset_path"] == "json" and cfg["dataset_kwargs"] == {"data_files": {"validation": str(folder / "validation.jsonl")}}
    assert cfg["training_split"] is None and cfg["num_fewshot"] == 0  # no train file: no few-shot split
    assert plan.data_files == (str(folder / "validation.jsonl"),) and not plan.needs_hub and plan.data_source == str(tmp_path)
    (folder / "validation.jsonl").rename(folder / "train.jsonl")
    with pytest.raises(QualityError, match="lacks its evaluated split 'validation'"):
        plan_tasks(QualitySpec(tasks=["nq_open"]), tmp_path)


def test_a_custom_task_file_goes_by_its_task_name(tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"q": "2+2", "a": "4"}) + "\n")
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"task": "my_qa", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
                                    "test_split": "test", "output_type": "generate_until", "doc_to_text": "{{q}}=",
                                    "doc_to_target": "{{a}}", "metric_list": [{"metric": "exact_match"}]}))
    (plan, text), = plan_tasks(QualitySpec(tasks=[str(path)], max_gen_toks={"my_qa": 8}), None)
    assert (plan.task, plan.lm_eval_task, plan.request, plan.data_source, plan.needs_hub) == ("my_qa", "harness_my_qa", "chat", "local", ())
    assert yaml.safe_load(text) == {"task": "harness_my_qa", "include": str(path), "generation_kwargs": {"max_gen_toks": 8}}
    with pytest.raises(QualityError, match=r"quality.num_fewshot: unknown task\(s\) \['mine'\]; the tasks are my_qa"):
        plan_tasks(QualitySpec(tasks=[str(path)], num_fewshot={"mine": 1}), None)


def test_a_shipped_task_is_named_by_its_name_and_reads_its_data_from_beside_it(tmp_path, monkeypatch):
    from pathlib import Path

    from harness.quality.tasks import evals

    repo = Path(__file__).resolve().parents[3]
    assert evals() == (repo / "evals").resolve()  # the top-level evals/ folder, as importlib.resources finds it
    monkeypatch.chdir(tmp_path)  # nowhere near the checkout: the file's own relative data_files would not resolve
    (plan, text), = plan_tasks(QualitySpec(tasks=["mc_facts"]), None)
    data = str(repo.resolve() / "evals" / "tasks" / "mc_facts.jsonl")
    assert (plan.task, plan.lm_eval_task, plan.request, plan.scope, plan.data_source) == ("mc_facts", "harness_mc_facts", "completions", "file", "local")
    assert plan.data_files == (data,) and plan.needs_hub == ()
    assert yaml.safe_load(text) == {"task": "harness_mc_facts", "include": str(evals() / "tasks" / "mc_facts.yaml"),
                                    "dataset_kwargs": {"data_files": {"test": data}}}
    monkeypatch.chdir(repo)  # named by its path, as lm-eval's CLI names it from the root: the same rendered config
    (by_path, text_by_path), = plan_tasks(QualitySpec(tasks=["evals/tasks/mc_facts.yaml"]), None)
    assert by_path == plan and text_by_path == text


def test_every_shipped_task_plans_finds_its_data_and_shadows_no_official_name():
    from pathlib import Path

    from harness.quality.tasks import REQUIRED_FILES, evals

    assert sorted(p.stem for p in (evals() / "templates").glob("*.yaml")) == sorted(REQUIRED_FILES)
    names = sorted(p.stem for p in (evals() / "tasks").glob("*.yaml"))
    assert names, "evals/tasks/ ships no task"
    for name in names:
        with pytest.raises(QualityError, match="has no task, group or tag"):
            lookup(name)
        (plan, text), = plan_tasks(QualitySpec(tasks=[name]), None)
        assert plan.task == name and plan.data_files and all(Path(f).is_file() for f in plan.data_files), plan


def test_the_spec_checks_names_and_overrides():
    with pytest.raises(ValueError, match="not lm-eval task names"):
        QualitySpec(tasks=["gsm8k; rm -rf"])
    with pytest.raises(ValueError, match=r"num_fewshot: unknown task\(s\) \['mmlu'\]; the tasks are gsm8k"):
        QualitySpec(tasks=["gsm8k"], num_fewshot={"mmlu": 5})
    with pytest.raises(ValueError, match="listed twice"):
        QualitySpec(tasks=["gsm8k", "gsm8k"])
    with pytest.raises(ValueError, match="not a regular expression"):
        QualitySpec(reasoning={"pattern": "(<think>"})


def test_gates_accept_any_tasks_metrics_and_still_catch_typos_of_the_known_ones():
    assert is_metric("quality/mmlu/acc") and is_metric("quality/nq_open/exact_match_remove_whitespace_stderr")
    assert is_metric("quality_idle/arc_easy/acc_norm") and is_metric("quality/gsm8k/reasoning_chars_mean")
    check_gates(GatesSpec(quality_floor={"quality/mmlu/acc": {"min": 0.3}, "quality/ifeval/prompt_level_strict_acc": {"min": 0.2}}))
    with pytest.raises(Exception, match="did you mean quality/gsm8k/exact_match_flexible"):
        check_gates(GatesSpec(quality_floor={"quality/gsm8k/exact_match_flexibel": {"min": 0.3}}))
    assert not is_metric("quality/mmlu") and not is_metric("quality/mmlu/acc/x")


def test_harness_validate_plans_the_tasks_and_refuses_what_the_engine_cannot_score(tmp_path):
    import subprocess
    import sys

    spec = tmp_path / "s.yaml"
    spec.write_text("name: t\nquality: {tasks: [nq_open, bbh]}\n")
    ok = subprocess.run([sys.executable, "-m", "harness", "validate", str(spec)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "quality task nq_open: chat" in ok.stdout and "quality task bbh (group of 27): chat" in ok.stdout
    spec.write_text("name: t\nquality: {tasks: [hellaswag]}\n")
    bad = subprocess.run([sys.executable, "-m", "harness", "validate", str(spec)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "hellaswag is a loglikelihood task" in bad.stderr and "server.kind=llamacpp" in bad.stderr


def test_each_request_type_gets_its_own_lm_eval_pass(tmp_path, monkeypatch):
    from harness.quality.runner import QualityRun
    from harness.server.endpoint import Endpoint

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d" / "arc_easy").mkdir(parents=True)
    (tmp_path / "d" / "arc_easy" / "test.jsonl").write_text("{}\n")
    spec = QualitySpec(tasks=["arc_easy", "nq_open"], data_dir=str(tmp_path / "d"), tokenizer="/models/tok", limit=3)
    run = QualityRun(spec, Endpoint(base_url="http://127.0.0.1:9", model="m", metrics_url="", engine="vllm"), tmp_path / "q")
    chat, scored = run.passes
    assert chat.argv[chat.argv.index("--model") + 1] == "harness-chat-completions" and "--apply_chat_template" in chat.argv
    assert chat.argv[chat.argv.index("--tasks") + 1] == "harness_nq_open" and "/v1/chat/completions" in " ".join(chat.argv)
    assert scored.argv[scored.argv.index("--model") + 1] == "harness-completions" and "--apply_chat_template" not in scored.argv
    args = scored.argv[scored.argv.index("--model_args") + 1]
    assert "base_url=http://127.0.0.1:9/v1/completions" in args and "tokenizer=/models/tok" in args
    assert (chat.log.name, scored.log.name) == ("lm_eval.log", "lm_eval_loglikelihood.log")
    assert "HF_DATASETS_OFFLINE" not in run.env  # nq_open reads the Hub here
    assert (tmp_path / "q" / "tasks" / "harness_arc_easy.yaml").is_file() and run.env["HARNESS_REASONING_PATTERN"]
