"""The Locust subprocess against a fake streaming server with known timing and injected faults."""

from __future__ import annotations

import csv
import re

import pytest

from harness.load.runner import LoadRun
from harness.spec.model import LengthDist, LoadSpec


def _spec(**kw) -> LoadSpec:
    base = dict(users=2, spawn_rate=10, duration_s=4, warmup_s=1, prompt_tokens=LengthDist(mean=20), output_tokens=LengthDist(mean=8, max=8), request_timeout_s=10)
    base.update(kw)
    return LoadSpec(**base)


def test_measured_timing_matches_programmed_timing(fake_server, tmp_path):
    ep, state = fake_server(ttft_s=0.10, interval_s=0.02, chunks=8)
    result = LoadRun(_spec(), ep, tmp_path).start().finish()
    s = result.summary
    assert s.requests > 5 and s.errors == 0
    assert 95 <= s.ttft_ms.p50 <= 130  # programmed 100 ms
    assert 18 <= s.itl_ms.p50 <= 30  # programmed 20 ms
    assert 18 <= s.tpot_ms.p50 <= 30
    assert all(r.completion_tokens == 8 and len(r.chunk_offsets_s) == 8 for r in result.records)
    assert s.excluded_warmup > 0
    # the load lasts what the spec says: Locust's --run-time timer once counted from a stale loop clock and ended the
    # run 1-3 s early on a busy machine (harness/loadgen/chat_user.py `_init`)
    starts = [r.t_start for r in result.records]
    assert max(starts) - min(starts) >= _spec().run_s() - 1.0, (max(starts) - min(starts), _spec().run_s())
    # Locust's own outputs exist and count each request once: one `chat` event per record (TTFT/TPOT are not requests)
    with (tmp_path / "locust_stats.csv").open() as fh:
        counts = {row["Name"]: int(row["Request Count"]) for row in csv.DictReader(fh)}
    assert set(counts) == {"chat", "Aggregated"} and counts["chat"] == counts["Aggregated"] <= len(result.records), counts
    # (the CSV is rewritten every second; the final summary Locust prints has every request)
    final = re.findall(r"^\s+Aggregated\s+(\d+)\s", (tmp_path / "locust.log").read_text(), re.M)
    assert final and int(final[0]) == len(result.records), final
    assert (tmp_path / "locust_report.html").stat().st_size > 1000


@pytest.mark.parametrize("mode,kind", [("drop", "IncompleteStream"), ("http500", "HTTP 500"), ("garbage", "MalformedStream")])
def test_faults_are_counted_not_lost(fake_server, tmp_path, mode, kind):
    ep, state = fake_server(mode=mode, ttft_s=0.01, interval_s=0.005)
    result = LoadRun(_spec(duration_s=2, warmup_s=0), ep, tmp_path).start().finish()  # users back off: no warm-up to skip
    s = result.summary
    assert s.requests > 0 and s.errors == s.requests and s.error_rate == 1.0 and s.backoffs == s.requests
    assert all(kind in (r.error or "") for r in result.records), {r.error for r in result.records}
    # every request the server saw is in the raw records, excluded warm-up included
    assert len(result.records) >= state.requests - 2 * 2  # users still in flight at stop may be cut


def test_two_processes_merge_records(fake_server, tmp_path):
    ep, state = fake_server(ttft_s=0.02, interval_s=0.005)
    result = LoadRun(_spec(processes=2, users=4, duration_s=3), ep, tmp_path).start().finish()
    files = result.artifacts.record_files()
    assert len(files) >= 2
    per_file = sum(sum(1 for _ in f.open()) for f in files)
    assert len(result.records) == per_file
    assert len({r.pid for r in result.records}) == 2


def test_processes_finish_requests_in_flight_at_the_end(fake_server, tmp_path):
    # 8 s streams, 3 s of run time: every request is in flight when the run ends. Locust's own
    # master gives its --processes children 3 s and then interrupts them; the harness's drain
    # waits (up to the stop timeout) for them to finish and write their records.
    ep, state = fake_server(ttft_s=0.05, interval_s=0.2, chunks=40)
    spec = _spec(processes=2, users=4, duration_s=2, warmup_s=1, output_tokens=LengthDist(mean=40, max=40), request_timeout_s=20)
    result = LoadRun(spec, ep, tmp_path).start().finish()
    assert state.requests == 4
    assert len(result.records) == 4
    assert all(r.ok and r.completion_tokens == 40 for r in result.records), {r.error for r in result.records}


def test_unreadable_record_lines_are_counted_in_the_summary(fake_server, tmp_path):
    """Lines of the record files that are not records reach the load metrics as `perf/records_dropped`."""
    import time

    ep, state = fake_server(ttft_s=0.01, interval_s=0.005)
    run = LoadRun(_spec(duration_s=2, warmup_s=0), ep, tmp_path).start()
    while run.running():
        time.sleep(0.1)
    with run.art.records.open("a") as fh:  # after Locust exited: a corrupt line, then a torn last line
        fh.write('{"garbage": \n{"t_start": 1.0, "ok": tr')
    result = run.finish()
    assert result.summary.requests > 0 and result.summary.errors == 0
    assert result.summary.records_dropped == 2 and result.flat_metrics()["perf/records_dropped"] == 2.0


def test_each_process_sends_its_own_prompts(fake_server, tmp_path):
    """`--processes` children seed their users' prompts per process (made after Locust forks): no prompt is sent twice."""
    ep, state = fake_server(ttft_s=0.01, interval_s=0.005)
    spec = _spec(processes=2, users=4, duration_s=2, warmup_s=0, prompt_tokens=LengthDist(mean=60))  # ~40 seeded words each
    result = LoadRun(spec, ep, tmp_path).start().finish()
    assert len({r.pid for r in result.records}) == 2
    prompts = [b["messages"][-1]["content"] for b in state.bodies]
    assert len(prompts) == state.requests > 8 and len(set(prompts)) == len(prompts)


def test_a_load_generator_that_cannot_start_says_why(fake_server, tmp_path):
    """A failure making the process state (here a dataset line that is not JSON) reaches the harness's error."""
    from harness.errors import LoadError

    ep, state = fake_server()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(LoadError, match=r"could not start: LoadError: .*bad.jsonl:1: not JSON"):
        LoadRun(_spec(duration_s=1, warmup_s=0, dataset={"path": str(bad)}), ep, tmp_path / "load").start().finish()
    assert state.requests == 0
