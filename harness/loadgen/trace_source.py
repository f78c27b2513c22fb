"""Trace replay's prompt source: the request of arrival i is trace row i (docs/workloads.md, "Trace replay").

The pacer (harness/loadgen/pacer.py) schedules the trace's arrivals; the user hands the claimed arrival's index to
`next(index)`, so row i's lengths go out at row i's time whichever user sends it. Prompts are seeded words
(harness/words.py, one word ~ one token) sized to the row's input length; rows that share a prefix share its text,
so a server's prefix cache sees the sharing:

- Mooncake: each hash id is one 512-token block of text seeded by the id; a prompt is its blocks' text in order, the
  last block cut to the input length (two prompts with the same leading ids start with the same words);
- harness format: rows with one `prefix_id` start with the same `prefix_tokens` words (default: half the group's
  shortest input), then words of their own.

Rows are independent requests: a `session_id` becomes the record's `conversation` (its rows numbered as `turn`s), but
no history is resent. `max_tokens` is the row's output length (capped by `max_output_tokens`, at least 1).
"""

from __future__ import annotations

import random
from typing import Any

from harness.loadgen.trace_formats import MOONCAKE_BLOCK_TOKENS, TraceRow, read
from harness.loadgen.workload import ChatRequest
from harness.spec.load import LoadSpec
from harness.words import words


class Prepared:
    """The trace's rows and what they share: prefix groups and session numbers (made once per process)."""

    def __init__(self, load: LoadSpec, rows: list[TraceRow]):
        self.rows = rows
        self.seed = load.seed
        groups: dict[str, int] = {}
        shortest: dict[str, int] = {}
        sessions: dict[str, int] = {}
        self.turns: list[int] = []
        seen: dict[str, int] = {}
        for row in rows:
            if row.prefix_id is not None:
                groups.setdefault(row.prefix_id, len(groups))
                shortest[row.prefix_id] = min(shortest.get(row.prefix_id, row.input_tokens), row.input_tokens)
            if row.session_id is not None:
                sessions.setdefault(row.session_id, len(sessions))
                seen[row.session_id] = seen.get(row.session_id, -1) + 1
                self.turns.append(seen[row.session_id])
            else:
                self.turns.append(0)
        self.groups = groups
        self.shortest = shortest
        self.sessions = sessions
        self._blocks: dict[int, list[str]] = {}

    def block(self, hid: int) -> list[str]:
        """The words of one Mooncake block (the same for every request of a seed)."""
        if hid not in self._blocks:
            self._blocks[hid] = words(MOONCAKE_BLOCK_TOKENS, random.Random(f"{self.seed}:trace-block:{hid}")).split()
        return self._blocks[hid]

    def prompt(self, i: int) -> tuple[str, int | None]:
        """Row i's prompt text and prefix group."""
        row = self.rows[i]
        n = max(1, row.input_tokens)
        own = random.Random(f"{self.seed}:trace-row:{row.line}")
        if row.hash_ids:
            out: list[str] = []
            for hid in row.hash_ids:
                if len(out) >= n:
                    break
                out += self.block(hid)[: n - len(out)]
            if len(out) < n:  # fewer blocks than the length needs: words of its own
                out += words(n - len(out), own).split()
            return " ".join(out), row.hash_ids[0]
        if row.prefix_id is not None:
            p = row.prefix_tokens if row.prefix_tokens is not None else self.shortest[row.prefix_id] // 2
            p = min(p, n)
            shared = words(p, random.Random(f"{self.seed}:trace-prefix:{row.prefix_id}")).split()[:p] if p else []
            rest = words(n - p, own).split()[: n - p] if n > p else []
            return " ".join(shared + rest), self.groups[row.prefix_id]
        return words(n, own), None


class Source:
    """One user's view of the trace: `next(index)` builds the request of arrival `index` (its trace row)."""

    @classmethod
    def prepare(cls, load: LoadSpec) -> Prepared:
        assert load.workload.trace is not None
        return Prepared(load, read(load.workload.trace))

    def __init__(self, load: LoadSpec, stream: int, prepared: Any):
        self.load = load
        self.prepared: Prepared = prepared
        self.position = stream  # only without an index (never under pattern trace): walk the rows from here

    def next(self, index: int | None = None) -> ChatRequest:
        p = self.prepared
        if index is None:
            index, self.position = self.position, self.position + 1
        i = index % len(p.rows)
        row = p.rows[i]
        text, group = p.prompt(i)
        conversation = p.sessions[row.session_id] if row.session_id is not None else len(p.sessions) + i
        return ChatRequest(
            messages=[{"role": "user", "content": text}],
            max_tokens=max(1, row.output_tokens),
            prompt_tokens_target=row.input_tokens,
            conversation=conversation,
            turn=p.turns[i],
            prefix_group=group,
        )

    def reply(self, text: str | None) -> None:
        """Rows are independent requests: nothing carries over."""
