"""Trace files read into typed rows: the harness JSONL, the Mooncake JSONL and the Azure LLM inference trace CSV.

Pure (standard library only, no network). `read(spec)` gives the rows of `load.workload.trace` sorted by arrival, each
with its offset in seconds from the window's start, already divided by `speedup`; the window (`start_s`,
`duration_s`) is in trace seconds after the trace's first arrival. Formats (docs/workloads.md):

- harness JSONL: `{"timestamp": s, "input_tokens": n, "output_tokens": n, "session_id"?: id, "prefix_id"?: id,
  "prefix_tokens"?: n}` (timestamp in seconds, any origin);
- Mooncake JSONL (kvcache-ai/Mooncake, FAST25-release/traces): `{"timestamp": ms, "input_length": n, "output_length":
  n, "hash_ids": [...]}`, each hash id one 512-token block; requests sharing leading hash ids share that prefix;
- Azure CSV (Azure/AzurePublicDataset, AzureLLMInferenceTrace_conv.csv / _code.csv): `TIMESTAMP,ContextTokens,
  GeneratedTokens` with TIMESTAMP like `2023-11-16 18:15:46.6805900`.
"""

from __future__ import annotations

import csv
import functools
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import LoadError
from harness.spec.workload import TraceSpec

MOONCAKE_BLOCK_TOKENS = 512
"""Tokens per Mooncake hash id (the FAST25 traces' block size)."""

_JSON_KEYS = {
    "harness": ("timestamp", "input_tokens", "output_tokens"),
    "mooncake": ("timestamp", "input_length", "output_length"),
}
_AZURE_KEYS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


@dataclass(frozen=True)
class TraceRow:
    """One request of the trace."""

    offset_s: float
    """Seconds from the window's start to this arrival, divided by `speedup` (what the schedule uses)."""
    input_tokens: int
    output_tokens: int
    line: int
    """Line of the file it came from (1-based, the CSV header being line 1)."""
    session_id: str | None = None
    prefix_id: str | None = None
    """harness format: rows with the same id share a prefix of `prefix_tokens` (None: the format's default)."""
    prefix_tokens: int | None = None
    hash_ids: tuple[int, ...] = ()
    """Mooncake: the prompt's 512-token blocks; equal leading ids = a shared prefix."""


def detect(path: Path) -> str:
    """The format of a trace file from its suffix and first line."""
    if path.suffix.lower() == ".csv":
        return "azure"
    first = next((ln for ln in _lines(path) if ln[1].strip()), None)
    if first is None:
        raise LoadError(f"{path}: the trace file is empty")
    obj = _json(path, *first)
    if "input_length" in obj or "hash_ids" in obj:
        return "mooncake"
    if "input_tokens" in obj:
        return "harness"
    raise LoadError(f"{path}:{first[0]}: cannot tell the trace format from its keys {sorted(obj)}: the harness format has "
                    "input_tokens/output_tokens, Mooncake input_length/output_length; or set workload.trace.format")


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as fh:
            return list(enumerate(fh, 1))
    except OSError as exc:
        raise LoadError(f"{path}: cannot read the trace file ({exc.strerror})") from None


def _json(path: Path, n: int, line: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LoadError(f"{path}:{n}: not JSON ({exc.msg}); each line of a JSONL trace must be one JSON object") from None
    if not isinstance(obj, dict):
        raise LoadError(f"{path}:{n}: a JSONL trace line must be a JSON object, not {type(obj).__name__}")
    return obj


def _number(path: Path, n: int, obj: dict[str, Any], key: str, fmt: str, *, whole: bool) -> float:
    if key not in obj or obj[key] is None:
        raise LoadError(f"{path}:{n}: missing column `{key}` (the {fmt} format needs {', '.join(_JSON_KEYS.get(fmt, _AZURE_KEYS))})")
    v = obj[key]
    try:
        x = float(v) if not isinstance(v, bool) else float("nan")
    except (TypeError, ValueError):
        x = float("nan")
    if x != x or x < 0 or (whole and x != int(x)):
        raise LoadError(f"{path}:{n}: `{key}` is {v!r}; it must be a {'whole ' if whole else ''}number >= 0")
    return x


def _raw(path: Path, fmt: str) -> list[tuple[float, TraceRow]]:
    """(timestamp in seconds, row with offset 0) for every row of the file, in file order."""
    out: list[tuple[float, TraceRow]] = []
    if fmt == "azure":
        lines = _lines(path)
        reader = csv.DictReader(ln for _, ln in lines)
        missing = [k for k in _AZURE_KEYS if k not in (reader.fieldnames or [])]
        if missing:
            raise LoadError(f"{path}:1: missing column `{missing[0]}` (the Azure format's header is {','.join(_AZURE_KEYS)}; "
                            f"found {','.join(reader.fieldnames or []) or 'nothing'})")
        for n, rec in enumerate(reader, 2):
            stamp = (rec.get("TIMESTAMP") or "").strip()
            try:
                t = datetime.fromisoformat(stamp).timestamp()
            except ValueError:
                raise LoadError(f"{path}:{n}: TIMESTAMP {stamp!r} is not a date and time like 2023-11-16 18:15:46.6805900") from None
            out.append((t, TraceRow(0.0, int(_number(path, n, rec, "ContextTokens", fmt, whole=True)),
                                    int(_number(path, n, rec, "GeneratedTokens", fmt, whole=True)), n)))
        return out
    ts_key, in_key, out_key = _JSON_KEYS[fmt]
    for n, line in _lines(path):
        if not line.strip():
            continue
        obj = _json(path, n, line)
        t = _number(path, n, obj, ts_key, fmt, whole=False)
        row = dict(offset_s=0.0, input_tokens=int(_number(path, n, obj, in_key, fmt, whole=True)),
                   output_tokens=int(_number(path, n, obj, out_key, fmt, whole=True)), line=n)
        if fmt == "mooncake":
            ids = obj.get("hash_ids") or []
            if not isinstance(ids, list) or not all(isinstance(h, int) for h in ids):
                raise LoadError(f"{path}:{n}: `hash_ids` must be a list of integers (one per {MOONCAKE_BLOCK_TOKENS}-token block)")
            out.append((t / 1000.0, TraceRow(**row, hash_ids=tuple(ids))))
        else:
            pt = obj.get("prefix_tokens")
            prefix_tokens = int(_number(path, n, obj, "prefix_tokens", fmt, whole=True)) if pt is not None else None
            sid, pid = obj.get("session_id"), obj.get("prefix_id")
            out.append((t, TraceRow(**row, session_id=None if sid is None else str(sid), prefix_id=None if pid is None else str(pid),
                                    prefix_tokens=prefix_tokens)))
    return out


def read(spec: TraceSpec) -> list[TraceRow]:
    """The window's rows sorted by arrival, offsets from the window's start divided by `speedup`: read once per
    process (the pacer's schedule and the prompt source share it), again when the file changed (a long-lived process:
    the web UI, a sweep's later variants)."""
    path = Path(spec.path).expanduser()
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None  # _raw says what is wrong with the path
    return list(_read(spec.model_dump_json(), stamp))


@functools.lru_cache(maxsize=4)
def _read(spec_json: str, stamp: tuple[int, int] | None) -> tuple[TraceRow, ...]:
    """`read`'s work, cached by the spec and the file's (mtime, size) `stamp`."""
    spec = TraceSpec.model_validate_json(spec_json)
    path = Path(spec.path).expanduser()
    fmt = detect(path) if spec.format == "auto" else spec.format
    raw = _raw(path, fmt)
    if not raw:
        raise LoadError(f"{path}: the trace holds no request")
    raw.sort(key=lambda tr: tr[0])  # stable: rows of one timestamp keep their file order
    t0 = raw[0][0]
    span = raw[-1][0] - t0
    end = spec.start_s + spec.duration_s if spec.duration_s is not None else float("inf")
    rows = []
    for t, row in raw:
        off = t - t0
        if spec.start_s <= off < end:
            out = row.output_tokens if spec.max_output_tokens is None else min(row.output_tokens, spec.max_output_tokens)
            rows.append(_with(row, offset_s=(off - spec.start_s) / spec.speedup, output_tokens=out))
    if not rows:
        raise LoadError(f"{path}: the window (start_s {spec.start_s:g}, duration_s {spec.duration_s}) holds no request: the trace's "
                        f"{len(raw)} arrivals span {span:g} s after the first; set workload.trace.start_s below that")
    return tuple(rows)


def _with(row: TraceRow, **changes: Any) -> TraceRow:
    return TraceRow(**{**row.__dict__, **changes})
