"""What each user sends: synthetic chat / document-QA prompts, a shared system prompt,
multi-turn conversations that carry their history, or conversations from a JSONL file; the other
prompt sources of `load.workload` (trace replay, prefix pools, agentic sessions) live in modules
of their own, named in `SOURCES` and imported only when a spec uses them.

Pure code (no network); one `Workload` per simulated user, deterministic for (seed, stream).
A source class has `prepare(load)` (once per process: files read, pools built; its value is shared by
the process's users), `__init__(load, stream, prepared)`, `next() -> ChatRequest`, `reply(text)` and
`keeps_replies` (does a reply's text matter to it? Only then does the user keep the streamed text).
"""

from __future__ import annotations

import importlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.errors import LoadError
from harness.loadgen.prompts import PromptGenerator, sample_length, system_prompt
from harness.spec.load import DatasetSpec, LoadSpec

_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant", "model": "assistant", "system": "system"}


@dataclass(frozen=True)
class ChatRequest:
    """One request's messages and limits."""

    messages: list[dict[str, str]]
    max_tokens: int
    prompt_tokens_target: int | None
    """Synthetic prompts: the sampled length of the new user message (None for dataset prompts)."""
    conversation: int
    turn: int
    extra: dict[str, Any] = field(default_factory=dict)
    """Body fields beyond the chat's own (`response_format`, `tools`, `tool_choice`, ...), merged into the request."""
    kind: str = "chat"
    """What kind of request this is (`chat`, `json`, `tools`, ...): metrics are split by it when a workload mixes kinds."""
    prefix_group: int | None = None
    """Prefix pools and traces: the shared-prefix group this prompt belongs to."""
    pause_s: float = 0.0
    """Seconds the user waits before sending it (an agent's think time); closed loop only."""
    history: str | None = None
    """A trace session's later turn: whose reply its history resends, `server` (the server's own) or `stand-in`
    (seeded words: the reply was not at hand); None for other requests."""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


REPLY_TOKENS_PER_WORD = 4 / 3
"""`dataset.output_lengths: data`: a reply's tokens are estimated as ceil(its whitespace words x this) (English
text runs about 0.75 words per BPE token); the server's usage reports the real count."""


@dataclass(frozen=True)
class DatasetItem:
    """One line of a dataset: its messages up to the last user message and the length of the reply after it."""

    messages: list[dict[str, str]]
    reply_tokens: int | None = None
    """Estimated tokens of the assistant reply following the last user message (None: the line has none)."""


def reply_tokens(text: str) -> int:
    """A reply's length in tokens, estimated from its words (REPLY_TOKENS_PER_WORD)."""
    return max(1, math.ceil(len(text.split()) * REPLY_TOKENS_PER_WORD))


def parse_line(obj: Any, fmt: str) -> DatasetItem | None:
    """Messages up to and including the last user message (and its reply's length), or None when the line has none."""
    if not isinstance(obj, dict):
        return None
    if fmt == "openai" or (fmt == "auto" and "messages" in obj):
        raw = [(m.get("role"), _text(m.get("content"))) for m in obj.get("messages") or [] if isinstance(m, dict)]
    elif fmt == "sharegpt" or (fmt == "auto" and "conversations" in obj):
        raw = [(m.get("from"), _text(m.get("value"))) for m in obj.get("conversations") or [] if isinstance(m, dict)]
    else:
        return None
    msgs = [{"role": _ROLES[str(r).lower()], "content": c} for r, c in raw if str(r).lower() in _ROLES and c]
    last_user = max((i for i, m in enumerate(msgs) if m["role"] == "user"), default=None)
    if last_user is None:
        return None
    after = msgs[last_user + 1] if last_user + 1 < len(msgs) else None
    reply = reply_tokens(after["content"]) if after is not None and after["role"] == "assistant" else None
    return DatasetItem(msgs[: last_user + 1], reply)


def load_dataset(spec: DatasetSpec) -> list[DatasetItem]:
    """Every usable conversation of the file; lines without a user message are skipped."""
    out = []
    path = Path(spec.path)
    with path.open() as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LoadError(f"{path}:{n}: not JSON ({exc.msg}); each line must be one JSON object") from None
            item = parse_line(obj, spec.format)
            if item is not None:
                out.append(item)
    if not out:
        raise LoadError(f"{path}: no line holds a user message in the {spec.format} format (`messages` with role/content or ShareGPT `conversations`)")
    return out


class Source(Protocol):
    """What a prompt source gives one user."""

    def next(self, index: int | None = None) -> ChatRequest:
        """The next request; `index` is the open-loop arrival it goes out at (a trace sends row `index`; others ignore it)."""
        ...

    def reply(self, text: str | None) -> None: ...

    @property
    def keeps_replies(self) -> bool:
        """Does `reply` use the text (a conversation's history)? The user keeps a reply's text only then (or to check
        or count it)."""
        ...


SOURCES: dict[str, str] = {
    "trace": "harness.loadgen.trace_source",
    "prefix_pool": "harness.loadgen.prefix_pool",
    "agentic": "harness.loadgen.agentic",
}
"""`load.workload` prompt sources: name -> module holding its `Source` class (imported on use)."""


def source_class(load: LoadSpec) -> Any:
    """The `Source` class of the spec's prompt source; None for the built-in synthetic / dataset workload."""
    name = load.workload.source
    return None if name is None else importlib.import_module(SOURCES[name]).Source


def prepare(load: LoadSpec) -> Any:
    """Once per process: what the spec's source shares between users (a dataset's lines, a trace's rows, a pool)."""
    cls = source_class(load)
    if cls is not None:
        return cls.prepare(load)
    return load_dataset(load.dataset) if load.dataset is not None else None


def make(load: LoadSpec, stream: int, prepared: Any) -> Source:
    """One user's source."""
    cls = source_class(load)
    return cls(load, stream, prepared) if cls is not None else Workload(load, stream, prepared)


class Workload:
    """The request source of one user: synthetic chats (one or more turns) or a dataset's conversations."""

    def __init__(self, load: LoadSpec, stream: int, dataset: list[DatasetItem] | None = None):
        self.load = load
        self.gen = PromptGenerator(load.prompt_tokens, load.output_tokens, load.seed, stream=stream, kind=load.prompt_kind)
        self.rng = random.Random(f"{load.seed}:{stream}:workload")
        self.system = system_prompt(load.system_prompt_tokens, load.seed) if load.system_prompt_tokens else None
        self.dataset = dataset
        self.order: list[int] = []
        if dataset is not None:
            self.order = list(range(len(dataset)))
            if load.dataset is not None and load.dataset.shuffle:
                self.rng.shuffle(self.order)
            else:  # spread users over the file
                k = stream % len(dataset)
                self.order = self.order[k:] + self.order[:k]
        self.position = 0
        self.conversation = -1
        self.turn = load.turns  # forces a new conversation first
        self.history: list[dict[str, str]] = []

    def next(self, index: int | None = None) -> ChatRequest:
        if self.dataset is not None:
            item = self.dataset[self.order[self.position % len(self.order)]]
            self.position += 1
            self.conversation += 1
            max_tokens = sample_length(self.load.output_tokens, self.rng)  # drawn either way: one seeded sequence
            if self.load.dataset is not None and self.load.dataset.output_lengths == "data" and item.reply_tokens is not None:
                max_tokens = item.reply_tokens
            return ChatRequest(list(item.messages), max_tokens, None, self.conversation, 0)
        if self.turn >= self.load.turns:
            self.conversation += 1
            self.turn = 0
            self.history = []
        sample = self.gen.next()
        self.history.append({"role": "user", "content": sample.text})
        msgs = ([{"role": "system", "content": self.system}] if self.system else []) + list(self.history)
        req = ChatRequest(msgs, sample.max_tokens, sample.target_tokens, self.conversation, self.turn)
        self.turn += 1
        return req

    @property
    def keeps_replies(self) -> bool:
        """Multi-turn synthetic chats carry their replies in the history."""
        return self.dataset is None and self.load.turns > 1

    def reply(self, text: str | None) -> None:
        """The assistant's answer to the last request; None (failed) ends the conversation."""
        if not self.keeps_replies:
            return
        if text is None:
            self.turn = self.load.turns
        else:
            self.history.append({"role": "assistant", "content": text})
