"""Reading record files back: every line that is not a record is dropped and counted; only a torn last line quietly."""

from __future__ import annotations

import logging
from pathlib import Path

from harness.load.records import iter_records, read_record_files, read_records
from harness.load.stats import summarize
from harness.loadgen.record import RequestRecord


def _line(t: float) -> str:
    return RequestRecord(t_start=t, ok=True, e2e_s=0.5).to_json() + "\n"


def test_a_torn_last_line_is_counted_quietly(tmp_path: Path, caplog):
    path = tmp_path / "records.jsonl"
    path.write_text(_line(2.0) + _line(1.0) + '{"t_start": 3.0, "ok": tr')  # the writer was killed mid-line
    with caplog.at_level(logging.WARNING):
        read = read_record_files([path])
    assert [r.t_start for r in read.records] == [1.0, 2.0] and read.dropped == 1
    assert not caplog.records


def test_any_other_bad_line_is_counted_and_logged(tmp_path: Path, caplog):
    a, b = tmp_path / "records.jsonl.1", tmp_path / "records.jsonl.2"
    a.write_text(_line(1.0) + "not json\n" + "\n" + "[1, 2]\n" + '{"ok": true}\n' + "7\n" + _line(4.0))
    b.write_bytes(_line(2.0).encode() + b"\xff\xfe{\n" + b'{"t_start": 5.0, "ok": true}\n')  # bad bytes, and a last line that ends
    with caplog.at_level(logging.WARNING):
        read = read_record_files([a, b])
    assert [r.t_start for r in read.records] == [1.0, 2.0, 4.0, 5.0]
    assert read.dropped == 5  # not JSON, a list, no t_start, a number, undecodable bytes; the blank line is not a record line
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 5 and any("records.jsonl.1:2:" in m for m in warned) and any("records.jsonl.2:2:" in m for m in warned)
    assert [r.t_start for r in read_records([a, b])] == [1.0, 2.0, 4.0, 5.0] and len(list(iter_records(a))) == 2


def test_no_files_no_records_nothing_dropped():
    read = read_record_files([])
    assert read.records == [] and read.dropped == 0


def test_the_count_is_a_load_metric():
    from dataclasses import replace

    s = replace(summarize([RequestRecord(t_start=1.0, ok=True, e2e_s=0.5)]), records_dropped=3)
    assert s.flat_metrics()["perf/records_dropped"] == 3.0
    assert summarize([]).flat_metrics()["perf/records_dropped"] == 0.0
