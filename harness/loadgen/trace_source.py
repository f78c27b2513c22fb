"""Trace replay's prompt source: the request of arrival i is trace row i (docs/workloads.md, "Trace replay").

The pacer (harness/loadgen/pacer.py) schedules the trace's arrivals; the user hands the claimed arrival's index to
`next(index)`, so row i's lengths go out at row i's time whichever user sends it. Prompts are seeded words
(harness/words.py, one word ~ one token) sized to the row's input length; rows that share a prefix share its text,
so a server's prefix cache sees the sharing:

- Mooncake: each hash id is one 512-token block of text seeded by the id; a prompt is its blocks' text in order, the
  last block cut to the input length (two prompts with the same leading ids start with the same words);
- harness format: rows with one `prefix_id` start with the same `prefix_tokens` words (default: half the group's
  shortest input), then words of their own.

Sessions are replayed (harness format, `session_id`): a later row of a session resends the earlier turns — its
previous row's messages, the assistant's reply to that row, and a new user message making up the rest of its input
length — so the turns share their history as a prefix, as a conversation does. The reply is the server's own when
this process received it before the later row was built (the users of a process share one `Prepared`; whichever user
sent the earlier row hands its reply over), so a cache that keeps generated tokens can hit on it too, as in a real
conversation; else (the earlier row still streaming, failed, or sent by another process) seeded words of the earlier
row's output length stand in. The new message's length follows the trace's accounting (earlier input + earlier
output), so a real reply shorter than the trace's output length leaves the prompt short of its target by as much
(`perf/prompt_tokens_off_target_rate`). The record's `conversation` is the session, `turn` its row number in it.
`max_tokens` is the row's output length (capped by `max_output_tokens`, at least 1).
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
        last: dict[str, int] = {}
        self.previous: list[int | None] = []
        """The row index of the same session's previous turn (None: a first turn, or no session)."""
        for i, row in enumerate(rows):
            self.previous.append(last.get(row.session_id) if row.session_id is not None else None)
            if row.session_id is not None:
                last[row.session_id] = i
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
        self._messages: dict[int, tuple[list[dict[str, str]], int | None]] = {}
        self.awaited = {prev: i for i, prev in enumerate(self.previous) if prev is not None}
        """Row -> its session's next row: a reply is kept for that turn until it is built."""
        self.replies: dict[int, str] = {}
        """Row index -> the server's reply to it, while its session's next turn is not built yet."""
        self._history: dict[int, str] = {}
        """Later turns: whose reply the history resends, `server` or `stand-in` (ChatRequest.history)."""

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

    def built(self, i: int) -> bool:
        """Were row i's messages built already (its history then fixed)?"""
        return i in self._messages

    def history(self, i: int) -> str | None:
        """Whose reply row i's history resends (`server` / `stand-in`), once its messages are built; None for a first turn."""
        return self._history.get(i)

    def messages(self, i: int) -> tuple[list[dict[str, str]], int | None]:
        """Row i's messages (a session's later turn: the history, a reply, then its own user message) and prefix group."""
        if i in self._messages:
            return self._messages[i]
        prev = self.previous[i]
        if prev is None:
            text, group = self.prompt(i)
            out = [{"role": "user", "content": text}], group
        else:
            history, group = self.messages(prev)
            before, row = self.rows[prev], self.rows[i]
            reply = self.replies.pop(prev, None)
            self._history[i] = "stand-in" if reply is None else "server"
            if reply is None:
                reply = words(max(1, before.output_tokens), random.Random(f"{self.seed}:trace-reply:{before.line}"))
            new = max(1, row.input_tokens - before.input_tokens - before.output_tokens)
            out = history + [{"role": "assistant", "content": reply},
                             {"role": "user", "content": words(new, random.Random(f"{self.seed}:trace-row:{row.line}"))}], group
        self._messages[i] = out
        return out


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
        self.sent: int | None = None
        """The row of this user's last request (its reply goes to the row's next turn, if any)."""

    def next(self, index: int | None = None) -> ChatRequest:
        p = self.prepared
        if index is None:
            index, self.position = self.position, self.position + 1
        i = index % len(p.rows)
        row = p.rows[i]
        self.sent = i
        messages, group = p.messages(i)
        conversation = p.sessions[row.session_id] if row.session_id is not None else len(p.sessions) + i
        return ChatRequest(
            messages=list(messages),
            max_tokens=max(1, row.output_tokens),
            prompt_tokens_target=row.input_tokens,
            conversation=conversation,
            turn=p.turns[i],
            prefix_group=group,
            history=p.history(i),
        )

    @property
    def keeps_replies(self) -> bool:
        """Does a reply's text matter (the trace has sessions)? Else the user need not keep it."""
        return bool(self.prepared.awaited)

    def reply(self, text: str | None) -> None:
        """The server's reply to this user's last row: kept for its session's next turn (if it has one, not built yet)."""
        p, i = self.prepared, self.sent
        if text and i is not None and i in p.awaited and not p.built(p.awaited[i]):
            p.replies[i] = text
