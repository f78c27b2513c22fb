"""The LLM tab's pieces without Locust: incremental record reading, lm-eval progress, the table rows."""

from __future__ import annotations

import json

import pytest

from harness.errors import SpecError
from harness.load.stats import summarize
from harness.loadgen.process_state import RecordWriter
from harness.loadgen.record import RequestRecord
from harness.webui.live import COLUMNS, MlflowView, QualityView, RecordTail, lm_eval_progress, rows
from harness.webui.session import parse_limit, parse_tasks


def _rec(t: float, ok: bool = True, ttft: float = 0.05, n: int = 5) -> RequestRecord:
    return RequestRecord(t_start=t, ok=ok, status=200 if ok else 500, error=None if ok else "HTTP 500: boom", ttft_s=ttft if ok else None,
                         chunk_offsets_s=[ttft + 0.01 * i for i in range(n)] if ok else [], e2e_s=ttft + 0.01 * (n - 1) if ok else 0.01,
                         prompt_tokens=10, completion_tokens=n if ok else None)


def test_tail_reads_only_complete_new_lines_of_every_process_file(tmp_path):
    path = tmp_path / "records.jsonl"
    tail = RecordTail(path, since=100.0)
    assert tail.read() == []  # nothing written yet
    path.write_text(_rec(99.0).to_json() + "\n" + _rec(101.0).to_json() + "\n" + _rec(102.0).to_json()[:20])  # a line being written
    (tmp_path / "records.jsonl.4242").write_text(_rec(100.5).to_json() + "\n")
    (tmp_path / "records.jsonl.unwritable.4242.ENOSPC").write_text("")
    assert [r.t_start for r in tail.read()] == [100.5, 101.0]  # ordered; before `since` left out; the torn line waits
    with path.open("a") as fh:
        fh.write(_rec(102.0).to_json()[20:] + "\n" + "not json\n")
    assert [r.t_start for r in tail.read()] == [100.5, 101.0, 102.0]
    assert tail.dropped == 1
    assert len(tail.read()) == 3  # nothing re-read


def test_the_record_writer_follows_a_new_test_folder(tmp_path):
    first, second = tmp_path / "a" / "records.jsonl", tmp_path / "b" / "records.jsonl"
    first.parent.mkdir()
    second.parent.mkdir()
    writer = RecordWriter(str(first))
    writer.write(_rec(1.0))
    writer.follow(str(second))
    writer.write(_rec(2.0))
    writer.follow(str(second))  # the same path: nothing reopened
    writer.write(_rec(3.0))
    assert [json.loads(x)["t_start"] for x in first.read_text().splitlines()] == [1.0]
    assert [json.loads(x)["t_start"] for x in second.read_text().splitlines()] == [2.0, 3.0]


def test_lm_eval_progress_is_read_from_its_log():
    log = ("Building contexts for harness_gsm8k on rank 0...\n  0%|          | 0/2 [00:00<?, ?it/s]\r100%|##########| 2/2 [00:00<00:00]\n"
           "Requesting API:   0%|          | 0/250 [00:00<?, ?it/s]\rRequesting API:  40%|####      | 100/250 [00:31<00:47,  3.2it/s]")
    assert lm_eval_progress(log) == (100, 250)
    assert lm_eval_progress("Building contexts ... 2/2 [00:00<00:00]") is None


def test_rows_keep_their_order_and_show_every_figure():
    records = [_rec(float(i)) for i in range(10)] + [_rec(10.0, ok=False)]
    summary = summarize(records, 0.0, None, None)
    quality = QualityView(state="running", tasks=["gsm8k"], done=3, total=10, elapsed_s=12)
    out = rows(summary, False, quality, "logged later", "running")
    metrics = [r["metric"] for r in out]
    assert metrics[:5] == ["Status", "TTFT (ms)", "TPOT (ms)", "ITL (ms)", "E2E latency (ms)"] and metrics[-1] == "MLflow"
    assert [r["name"] for r in out] == sorted(r["name"] for r in out)  # Locust sorts by `name`: that is this order
    by = {r["metric"]: r for r in out}
    assert set(by["TTFT (ms)"]) == {k for k, _ in COLUMNS} | {"name"}
    assert by["TTFT (ms)"]["p50"] == "50.0" and by["TTFT (ms)"]["n"] == "10"
    assert by["Errors"]["value"] == "1" and by["Errors: HTTP 500"]["n"] == "1"
    assert by["Goodput (req/s within load.slo)"]["value"] == "no load.slo set"
    assert by["Quality gsm8k"]["value"] == "running: 3/10 samples (12 s)"
    assert float(by["Output tokens/s"]["value"]) == pytest.approx(summary.output_tokens_per_s, abs=0.05)
    done = QualityView(state="done", tasks=["gsm8k"], scores={"gsm8k": {"exact_match_strict": 0.5}}, samples={"gsm8k": 2})
    assert {r["metric"]: r["value"] for r in rows(None, False, done, "")}["Quality gsm8k/exact_match_strict"] == "0.500"


def test_start_form_values_are_checked():
    assert parse_tasks("gsm8k, ifeval") == ("gsm8k", "ifeval") and parse_tasks("") == ()
    assert parse_limit("") is None and parse_limit("0") is None and parse_limit(" 2 ") == 2
    with pytest.raises(SpecError, match="quality-limit"):
        parse_limit("two")
    assert "harness sync" in MlflowView(state="failed", error="down").text(__import__("pathlib").Path("/r"))


def test_python_m_harness_webui_prints_the_web_ui_locustfile():
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run([sys.executable, "-m", "harness.webui"], capture_output=True, text=True, check=True).stdout.strip()
    assert out.endswith("locustfile.py") and "from harness.webui import plugin" in Path(out).read_text()


def test_a_start_form_task_typo_is_named_once_with_close_names(tmp_path):
    import pytest

    from harness.errors import SpecError
    from harness.webui.session import SessionOptions, WebSession

    with pytest.raises(SpecError) as err:
        WebSession(SessionOptions(host="http://127.0.0.1:1", quality_tasks=("gsm8kk",), run_dir=tmp_path), 0.0)
    [problem] = err.value.problems
    assert problem.startswith("quality.tasks: lm-eval has no task, group or tag named 'gsm8kk'") and problem.count("quality.tasks") == 1
    assert "did you mean" in problem and "gsm8k" in problem.split("did you mean", 1)[1]


def test_the_verdict_names_the_cause_of_a_test_that_did_not_serve():
    from harness.errors import Failure
    from harness.load.served import SERVED_KIND, not_served
    from harness.webui.live import final_verdict

    errors = [_rec(float(i), ok=False) for i in range(12)]
    summary = summarize(errors, 0.0, None, None)
    failure = not_served(summary, 0.05, len(errors), 0.0, 12.0)
    verdict = final_verdict([failure], summary, 0.05)
    assert (verdict.state, verdict.stage, verdict.kind) == ("failed", "load", SERVED_KIND)
    assert verdict.text.startswith("FAILED: load: the server did not serve: 0 of 12") and "HTTP 500 x12: boom" in verdict.text
    out = {r["metric"]: r for r in rows(summary, False, QualityView(), "logged", "stopped", verdict)}
    assert out["Verdict"]["value"] == verdict.text and out["TTFT (ms)"]["p50"] == ""  # no latency from error responses

    # some served, too many failed: the latencies shown are the successful ones', and the row says they are no result
    mixed = summarize([_rec(float(i)) for i in range(8)] + errors[:2], 0.0, None, None)
    failure = not_served(mixed, 0.05, 10, 0.0, 10.0)
    text = final_verdict([failure, Failure("quality", "lm-eval exited 1")], mixed, 0.05).text
    assert "2 of 10 requests in the measured window failed (20.0% > load.max_error_rate 5%)" in text
    assert "(also failed: quality)" in text and text.endswith("the latencies below are of its 8 successful requests only: not a result")

    ok = summarize([_rec(float(i)) for i in range(19)] + errors[:1], 0.0, None, None)
    assert not_served(ok, 0.05, 20, 0.0, 20.0) is None
    served = final_verdict([], ok, 0.05)
    assert served.state == "ok"
    assert served.text == "ok: 19 of 20 requests in the measured window succeeded; 1 failed (5.0%, load.max_error_rate 5%)"
