"""What each user sends: synthetic chat / document-QA prompts, a shared system prompt,
multi-turn conversations that carry their history, or conversations from a JSONL file.

Pure code (no network); one `Workload` per simulated user, deterministic for (seed, stream).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def parse_line(obj: Any, fmt: str) -> list[dict[str, str]] | None:
    """Messages up to and including the last user message, or None when the line has none."""
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
    return None if last_user is None else msgs[: last_user + 1]


def load_dataset(spec: DatasetSpec) -> list[list[dict[str, str]]]:
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
            msgs = parse_line(obj, spec.format)
            if msgs:
                out.append(msgs)
    if not out:
        raise LoadError(f"{path}: no line holds a user message in the {spec.format} format (`messages` with role/content or ShareGPT `conversations`)")
    return out


class Workload:
    """The request source of one user."""

    def __init__(self, load: LoadSpec, stream: int, dataset: list[list[dict[str, str]]] | None = None):
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

    def next(self) -> ChatRequest:
        if self.dataset is not None:
            msgs = self.dataset[self.order[self.position % len(self.order)]]
            self.position += 1
            self.conversation += 1
            return ChatRequest(list(msgs), sample_length(self.load.output_tokens, self.rng), None, self.conversation, 0)
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

    def reply(self, text: str | None) -> None:
        """The assistant's answer to the last request; None (failed) ends the conversation."""
        if self.dataset is not None or self.load.turns == 1:
            return
        if text is None:
            self.turn = self.load.turns
        else:
            self.history.append({"role": "assistant", "content": text})
