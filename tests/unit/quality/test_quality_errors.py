"""The error-answer rule (harness/quality/error_answers.py): which replies are errors, the server's own words, and the
line the quality stage fails with (the end-to-end path: tests/faults/test_quality_errors.py)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import Failure, QualityError
from harness.quality.error_answers import error_reply, read_errors, server_message

LLAMA_400 = ('{"error":{"code":400,"message":"request (1154 tokens) exceeds the available context size (1024 tokens), try '
             'increasing it","type":"exceed_context_size_error","n_prompt_tokens":1154,"n_ctx":1024}}')


def test_the_servers_own_words_are_found_in_its_error_body():
    assert server_message(LLAMA_400) == "request (1154 tokens) exceeds the available context size (1024 tokens), try increasing it"
    assert server_message(LLAMA_400.encode()) == server_message(LLAMA_400)
    assert server_message({"error": "model overloaded"}) == "model overloaded"
    assert server_message({"detail": "Not Found"}) == "Not Found"  # FastAPI's shape
    assert server_message("<html>\n  502 Bad   Gateway\n</html>") == "<html> 502 Bad Gateway </html>"
    assert server_message("") == "an empty body"
    assert len(server_message("x" * 5000)) == 300


def test_error_bodies_empty_choices_and_non_objects_are_error_answers_a_real_reply_is_not():
    assert error_reply({"error": {"message": "model overloaded", "code": 503}}) == "model overloaded"
    assert error_reply({"id": "x", "choices": []}) == "a reply with no choices"
    assert error_reply({"object": "chat.completion"}) == "a reply with no choices"
    assert error_reply(None) == "a reply that is not a JSON object: null"
    assert error_reply({"choices": [{"message": {"content": ""}}], "error": None}) is None  # an empty answer is the model's
    assert error_reply({"choices": [{"index": 0, "message": {"content": "4"}}]}) is None


def _log(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "{torn")
    return path


def test_the_stage_fails_with_the_count_per_task_and_the_most_frequent_message(tmp_path):
    log = _log(tmp_path / "e.jsonl", [
        {"sent": {"harness_gsm8k": 40, "mmlu_anatomy": 3}},
        *({"task": "harness_gsm8k", "request": f"r{i}", "status": 200, "message": "model overloaded"} for i in range(39)),
        {"task": "harness_gsm8k", "request": "r39", "status": 200, "message": "out of memory"},
        {"task": "mmlu_anatomy", "request": "m1", "status": 200, "message": "model overloaded"},
    ])
    errors = read_errors(log, {"harness_gsm8k": "gsm8k", "mmlu_anatomy": "mmlu"})  # a group's member counts for the group
    text = errors.message(log, tmp_path / "lm_eval.log")
    headline = Failure.of("quality", QualityError(text)).headline
    assert headline == ("quality: 40 of 40 gsm8k and 1 of 3 mmlu requests got an error answer from the server: 'model overloaded' "
                        "(and 1 other message) — no score is computed from error bodies")
    assert text.splitlines()[1] == f"error answers: {log}; lm-eval's log: {tmp_path / 'lm_eval.log'}"
    assert not read_errors(tmp_path / "missing.jsonl", {}) and not read_errors(_log(tmp_path / "s.jsonl", [{"sent": {"t": 3}}]), {})


def test_an_http_error_names_its_status_and_cause_and_a_retried_request_counts_once(tmp_path):
    said = server_message(LLAMA_400)
    log = _log(tmp_path / "e.jsonl", [
        {"sent": {"harness_gsm8k": 5}},
        *({"task": "harness_gsm8k", "request": "same", "status": 400, "reason": "Bad Request", "message": said} for _ in range(3)),
    ])
    headline = read_errors(log, {"harness_gsm8k": "gsm8k"}).message(log, tmp_path / "l").splitlines()[0]
    assert headline == f"lm-eval stopped: the server answered HTTP 400 Bad Request to 1 gsm8k request: '{said}'"
