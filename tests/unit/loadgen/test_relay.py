"""Records relayed from remote Locust workers to the master: batching, the wire format, the master's files."""

from __future__ import annotations

import json
from pathlib import Path

import msgpack

from harness.load.records import read_records
from harness.loadgen.record import RequestRecord
from harness.loadgen.relay import Batcher, RecordSink, master_role, relay_suffix, worker_spec


def test_batches_keep_order_cap_size_and_mark_the_last_done():
    b = Batcher(max_bytes=25)
    for i in range(5):
        b.add_record(f"r{i:09d}")  # 10 characters each
    b.add_record("x" * 40)  # longer than a batch: goes alone
    b.add_lag("[1.0]")
    out = b.take(done=True)
    assert [p["records"] for p in out[:4]] == [["r000000000", "r000000001"], ["r000000002", "r000000003"], ["r000000004"], ["x" * 40]]
    assert out[4:] == [{"records": [], "lag": ["[1.0]"], "done": True}]  # the long line filled its payload
    assert [p["done"] for p in out] == [False] * (len(out) - 1) + [True]
    assert b.take() == []  # emptied


def test_done_alone_is_one_empty_payload():
    assert Batcher().take(done=True) == [{"records": [], "lag": [], "done": True}]
    assert Batcher().take() == []


def test_records_survive_the_wire_and_land_in_one_file_per_worker(tmp_path: Path):
    recs = [RequestRecord(t_start=100.0 + i, ok=True, ttft_s=0.1, chunk_offsets_s=[0.1, 0.2], completion_tokens=2, pid=7) for i in range(3)]
    b = Batcher()
    for r in recs:
        b.add_record(r.to_json())
    b.add_lag(json.dumps([0.1, 0.2]))
    sink = RecordSink(str(tmp_path / "records.jsonl"), str(tmp_path / "client_lag"))
    for payload in b.take(done=True):
        wire = msgpack.unpackb(msgpack.packb(payload))  # what Locust's Message does to the data
        assert sink.accept("host-a_0f3c/../x y", wire) is True
    sink.accept("host-b_1", {"records": [recs[0].to_json()], "lag": []})
    sink.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["client_lag.worker-host-a_0f3c_.._x_y", "records.jsonl.worker-host-a_0f3c_.._x_y", "records.jsonl.worker-host-b_1"]
    got = read_records([tmp_path / "records.jsonl.worker-host-a_0f3c_.._x_y"])
    assert [r.to_json() for r in got] == [r.to_json() for r in recs]
    assert sink.received == {"host-a_0f3c/../x y": 3, "host-b_1": 1} and sink.finished == {"host-a_0f3c/../x y"}


def test_malformed_payloads_are_skipped_not_written(tmp_path: Path):
    sink = RecordSink(str(tmp_path / "records.jsonl"))
    assert sink.accept("w", ["not", "a", "dict"]) is False
    assert sink.accept("w", {"records": ["{}", 5, "a\nb", "  "], "lag": ["[1]"], "done": "yes"}) is False
    sink.close()
    assert (tmp_path / "records.jsonl.worker-w").read_text() == "{}\n"
    assert not list(tmp_path.glob("client_lag*"))  # no lag path given: lag lines dropped
    assert relay_suffix("") == "worker-unknown" and relay_suffix("a" * 300) == "worker-" + "a" * 120


def test_the_master_role_is_read_from_the_raw_load_json():
    assert master_role(json.dumps({"distributed": {"role": "master"}}))
    assert not master_role(json.dumps({"distributed": {"role": "local"}})) and not master_role("") and not master_role("{bad")


def test_a_remote_worker_keeps_replies_for_a_tokenizer_that_lives_on_the_master():
    spec = worker_spec(json.dumps({"tokenizer": "/only/on/the/master/tokenizer.json", "distributed": {"role": "master"}}))
    assert spec.tokenizer == "server" and spec.distributed.role == "master"


def test_a_remote_worker_reads_exact_lengths_from_the_fit_its_master_sent(tmp_path: Path):
    """The tokenizer the master fitted with may live only there; a worker takes the fit from its options, never from
    the master's file path (which names nothing on another machine), and a local process reads the file."""
    from types import SimpleNamespace

    from harness.loadgen.relay import FIT_OPTION, words_fit

    raw = {"workload": {"exact_lengths": "/only/on/the/master/tokenizer.json"}, "distributed": {"role": "master"}}
    assert worker_spec(json.dumps(raw)).workload.exact_lengths == "server"
    fit = {"words": ["a", "b"], "tail_tokens": 9}
    opts = SimpleNamespace(harness_words="/only/on/the/master/exact_lengths.json", **{FIT_OPTION: json.dumps(fit)})
    assert words_fit(opts, remote=True) == fit
    assert words_fit(SimpleNamespace(harness_words="/only/on/the/master/exact_lengths.json"), remote=True) is None
    local = tmp_path / "exact_lengths.json"
    local.write_text(json.dumps(fit))
    assert words_fit(SimpleNamespace(harness_words=str(local)), remote=False) == fit
    assert words_fit(SimpleNamespace(harness_words=""), remote=False) is None
