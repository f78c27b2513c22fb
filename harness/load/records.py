"""Reading the raw per-request records back: JSONL files written by the Locust process(es).

Every line that does not parse as a record is dropped and counted (`RecordFiles.dropped`, logged as
`perf/records_dropped`): a torn last line (the writer was killed mid-line) quietly, any other one
with a warning, since the writer never leaves one behind.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.loadgen.record import RequestRecord

__all__ = ["RecordFiles", "RequestRecord", "complete_lines_since", "iter_records", "read_record_files", "read_records"]

log = logging.getLogger(__name__)


def complete_lines_since(path: Path, offset: int) -> tuple[bytes, int] | None:
    """The complete lines appended to `path` after byte `offset`, and the offset after them (a line still being
    written waits for the next call); None when the file cannot be read. For readers that follow a growing file."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return None
    end = data.rfind(b"\n") + 1
    return data[:end], offset + end


@dataclass
class RecordFiles:
    """The records of some JSONL files, merged and ordered by start time, and how many lines were dropped."""

    records: list[RequestRecord] = field(default_factory=list)
    dropped: int = 0
    """Lines that were not a record: torn last lines and corrupt ones."""


def read_record_files(paths: Iterable[Path]) -> RecordFiles:
    """Read and merge JSONL record files, ordered by start time, counting the lines dropped."""
    out = RecordFiles()
    for path in paths:
        out.records.extend(_parse(path, out))
    out.records.sort(key=lambda r: r.t_start)
    return out


def read_records(paths: Iterable[Path]) -> list[RequestRecord]:
    """Read and merge JSONL record files, ordered by start time; unparsable lines are dropped."""
    return read_record_files(paths).records


def iter_records(path: Path) -> Iterator[RequestRecord]:
    """The records of one file, in file order; unparsable lines are dropped."""
    return _parse(path, RecordFiles())


def _parse(path: Path, tally: RecordFiles) -> Iterator[RequestRecord]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        line = fh.readline()
        number = 1
        while line:
            nxt = fh.readline()
            text = line.strip()
            if text:
                try:
                    yield RequestRecord.from_dict(json.loads(text))
                except (ValueError, TypeError, AttributeError):
                    tally.dropped += 1
                    if nxt or line.endswith("\n"):  # not a torn last line: something wrote a bad line
                        log.warning("%s:%d: dropped a line that is not a request record: %.80r", path, number, text)
            line, number = nxt, number + 1
