"""The load bar's request count reads only what was appended to the record files since the last poll."""

from __future__ import annotations

from harness.load.runner import LoadRun
from harness.server.endpoint import Endpoint
from harness.spec.load import LoadSpec


def test_progress_counts_complete_record_lines_as_they_are_appended(tmp_path):
    run = LoadRun(LoadSpec(users=1, duration_s=10, warmup_s=0), Endpoint(base_url="http://127.0.0.1:1", model="m"), tmp_path)
    first = run.art.records
    first.parent.mkdir(parents=True, exist_ok=True)
    first.write_text('{"a": 1}\n{"a": 2}\n{"a": 3')  # the third line is still being written
    assert run.progress().detail == "2 requests"
    with first.open("a") as fh:
        fh.write('}\n{"a": 4}\n')
    second = first.with_name(first.name + ".1")  # a second load process's file
    second.write_text('{"b": 1}\n')
    assert run.progress().detail == "5 requests"
    assert run._counted[first][0] == first.stat().st_size  # read up to the end, not again from the start
