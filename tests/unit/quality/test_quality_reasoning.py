"""Reasoning removed before scoring (the documented rule), and the per-sample tables built from lm-eval's sample logs."""

from __future__ import annotations

import hashlib
import json
import re

from harness.quality.reasoning import strip_reasoning
from harness.quality.runner import QualityResult
from harness.quality.samples import ReasoningStats, build_tables, prompt_text, read_reasoning, write_tables
from harness.quality.tasks import TaskPlan
from harness.spec.model import DEFAULT_REASONING_PATTERN

RULE = re.compile(DEFAULT_REASONING_PATTERN)


def test_the_default_rule_removes_think_blocks_and_counts_what_it_removed():
    # the count is what the pattern matched; the whitespace stripped around the answer afterwards is not counted
    assert strip_reasoning("<think>2+2 is 4</think>\n\nThe answer is 4", None, RULE) == ("The answer is 4", len("<think>2+2 is 4</think>"))
    # the chat template opened <think> in the prompt: the reply starts inside it
    assert strip_reasoning("let me see</think> 4", None, RULE) == ("4", len("let me see</think>"))
    # cut off while thinking (max_gen_toks): nothing is left to score
    assert strip_reasoning("<think>hmm, first", None, RULE) == ("", len("<think>hmm, first"))
    # several blocks, and text between them kept
    assert strip_reasoning("a <think>x</think>b<think>y</think> c", None, RULE) == ("a b c", 2 * len("<think>x</think>"))
    # an answer followed by a think block is not eaten by the leading rule
    assert strip_reasoning("42 <think>why</think>", None, RULE)[0] == "42"


def test_a_separate_reasoning_field_is_set_aside_and_counted():
    assert strip_reasoning("4", "2+2 is four", RULE) == ("4", len("2+2 is four"))
    assert strip_reasoning(None, "thinking that never ended", RULE) == ("", len("thinking that never ended"))
    assert strip_reasoning(None, None, RULE) == (None, 0)  # lm-eval's own placeholder for an empty reply then applies


def test_without_reasoning_the_reply_is_untouched_and_strip_false_scores_as_sent():
    assert strip_reasoning("  The answer is 4\n", None, RULE) == ("  The answer is 4\n", 0)  # whitespace kept: nothing removed
    assert strip_reasoning("<think>x</think> 4", "r", None) == ("<think>x</think> 4", 0)
    custom = re.compile(r"(?s)^.*?Final answer:")  # a spec's own rule: keep only what follows a marker
    assert strip_reasoning("work work Final answer: 7", None, custom) == ("7", len("work work Final answer:"))


def _sample(doc_id, prompt, reply, filt, extracted, score, **extra):
    args = {"gen_args_0": {"arg_0": [json.dumps([{"role": "user", "content": "shot"}, {"role": "assistant", "content": "a"},
                                                  {"role": "user", "content": prompt}])], "arg_1": {"until": []}}}
    return {"doc_id": doc_id, "doc": {"q": prompt}, "target": "4", "arguments": args, "resps": [[reply]], "filtered_resps": [extracted],
            "filter": filt, "metrics": ["exact_match"], "prompt_hash": hashlib.sha256(prompt.encode()).hexdigest(),
            "exact_match": score, **extra}


def test_tables_hold_prompt_reply_extracted_answer_and_scores_per_filter(tmp_path):
    out = tmp_path / "lm_eval" / "model"
    out.mkdir(parents=True)
    lines = [_sample(0, "2+2", "It is 4. #### 4", "strict-match", "4", 1.0), _sample(0, "2+2", "It is 4. #### 4", "flexible-extract", "4", 1.0),
             _sample(1, "3+3", "six", "strict-match", "[invalid]", 0.0), _sample(1, "3+3", "six", "flexible-extract", "six", 0.0)]
    samples = out / "samples_harness_gsm8k_2026-12-01T12-00-00.123456.jsonl"
    samples.write_text("".join(json.dumps(x) + "\n" for x in lines))
    mc = {"doc_id": 0, "target": 1, "arguments": {"gen_args_0": {"arg_0": "Q: sky?\nA:", "arg_1": " blue"}},
          "resps": [[["-3.0", "False"]], [["-0.5", "True"]]], "filtered_resps": [["-3.0", "False"], ["-0.5", "True"]], "filter": "none",
          "metrics": ["acc", "acc_norm"], "acc": 1.0, "acc_norm": 1.0, "prompt_hash": "p"}
    (out / "samples_harness_arc_easy_2026-12-01T12-00-00.123456.jsonl").write_text(json.dumps(mc) + "\n")
    log = tmp_path / "reasoning.jsonl"
    log.write_text(json.dumps({"prompt_hash": lines[0]["prompt_hash"], "reasoning_chars": 30, "reply_chars": 15}) + "\n"
                   + json.dumps({"prompt_hash": lines[2]["prompt_hash"], "reasoning_chars": 0, "reply_chars": 3}) + "\n")
    plans = [TaskPlan("gsm8k", "harness_gsm8k", "", "hub", 5), TaskPlan("arc_easy", "harness_arc_easy", "", "hub", 0, request="completions")]
    tables, stats = build_tables(sorted(out.glob("samples_*.jsonl")), plans, read_reasoning(log))
    gsm = tables["gsm8k"]
    rows = [dict(zip(gsm["columns"], r)) for r in gsm["data"]]
    assert [r["prompt"] for r in rows] == ["2+2", "3+3"]  # the question: the last user turn, not the few-shot turns
    assert gsm["columns"][:2] == ["prompt", "reply"]  # what MLflow's evaluation view groups by and compares, by default
    assert rows[1] == {"task": "harness_gsm8k", "doc_id": 1, "prompt": "3+3", "target": "4", "reply": "six", "reasoning_chars": 0,
                       "extracted_strict": "[invalid]", "exact_match_strict": 0.0, "extracted_flexible": "six", "exact_match_flexible": 0.0}
    assert stats == {"gsm8k": ReasoningStats(replies=2, with_reasoning=1, chars_mean=15.0)}
    arc = dict(zip(tables["arc_easy"]["columns"], tables["arc_easy"]["data"][0]))
    assert arc["extracted"] == 1 and arc["acc"] == 1.0 and json.loads(arc["reply"]) == [-3.0, -0.5]  # the chosen choice and its scores
    files = write_tables(tables, tmp_path / "tables")
    assert json.loads(files["gsm8k"].read_text()) == gsm
    assert prompt_text({"gen_args_0": {"arg_0": "plain prompt"}}) == "plain prompt"


def test_reasoning_counts_become_metrics():
    r = QualityResult({"gsm8k": {}}, {"gsm8k": 2}, [], tmp := __import__("pathlib").Path("r.json"), [], 1.0, tmp,
                      reasoning={"gsm8k": ReasoningStats(4, 1, 12.5)})
    m = r.flat_metrics()
    assert m["quality/gsm8k/reasoning_chars_mean"] == 12.5 and m["quality/gsm8k/reasoning_replies"] == 0.25
