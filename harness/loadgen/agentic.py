"""`load.workload.agentic`: sessions whose context grows turn by turn, like an agent calling tools.

A session's first request is its task: a synthetic user message of `load.prompt_tokens` (after the shared system
prompt when `load.system_prompt_tokens` is set). Each later turn resends the whole history, the model's previous reply
(an assistant message) and a tool result of `tool_result_tokens`, sent as a *user* message `Tool output:\\n...`: the
portable choice. OpenAI's `tool` role needs a preceding assistant message with `tool_calls` (and ids), which the
chat templates of llama.cpp and vLLM render only for requests that declare `tools`, and some templates insist on
user/assistant alternation; a user message keeps system, user, assistant, user, ... on every template.

A session ends after `turns` turns, when its next request's estimated prompt would exceed `max_context_tokens`, or
when a request fails (`reply(None)`); the next request starts a new session. Turns after the first wait
`think_time_s` before they are sent (`ChatRequest.pause_s`, closed loop). Seeded by (seed, stream): reproducible.
"""

from __future__ import annotations

import math
import random

from harness.loadgen.prompts import PromptGenerator, sample_length, system_prompt
from harness.loadgen.workload import ChatRequest
from harness.spec.load import LoadSpec
from harness.words import words

TOOL_HEADER = "Tool output:\n"
MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens a chat template adds per message (role markers), in the context estimate."""
CHARS_PER_TOKEN = 4
"""A model reply's estimated tokens: its characters / this (the server's count is not known to the source)."""


def estimate_tokens(text: str) -> int:
    """A reply's tokens, estimated from its length."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class Source:
    """One user's agentic sessions, one after another."""

    @classmethod
    def prepare(cls, load: LoadSpec) -> str | None:
        """The shared system prompt (the same in every process of a seed), if any."""
        return system_prompt(load.system_prompt_tokens, load.seed) if load.system_prompt_tokens else None

    def __init__(self, load: LoadSpec, stream: int, prepared: str | None):
        spec = load.workload.agentic
        assert spec is not None
        self.spec = spec
        self.load = load
        self.system = prepared
        self.rng = random.Random(f"{load.seed}:{stream}:agentic")
        self.gen = PromptGenerator(load.prompt_tokens, load.output_tokens, load.seed, stream=stream, kind=load.prompt_kind)
        self.conversation = -1
        self.turn = 0
        self.history: list[dict[str, str]] = []
        self.tokens = 0
        """The history's estimated prompt tokens (system prompt included)."""
        self.open = False
        """A session is going on and wants its next turn (False: the next request starts a new one)."""

    def _start(self) -> ChatRequest:
        self.conversation += 1
        self.turn = 0
        task = self.gen.next()
        self.history = [{"role": "system", "content": self.system}] if self.system else []
        self.tokens = self.load.system_prompt_tokens + MESSAGE_OVERHEAD_TOKENS if self.system else 0
        return self._send({"role": "user", "content": task.text}, task.target_tokens, task.max_tokens)

    def _send(self, msg: dict[str, str], tokens: int, max_tokens: int) -> ChatRequest:
        self.history.append(msg)
        self.tokens += tokens + MESSAGE_OVERHEAD_TOKENS
        self.open = False  # until its reply comes
        return ChatRequest(list(self.history), max_tokens, self.tokens, self.conversation, self.turn,
                           pause_s=self.spec.think_time_s if self.turn else 0.0)

    def next(self, index: int | None = None) -> ChatRequest:
        if not self.open or self.turn + 1 >= self.spec.turns:
            return self._start()
        n = sample_length(self.spec.tool_result_tokens, self.rng)
        max_tokens = sample_length(self.load.output_tokens, self.rng)
        if self.tokens + n + MESSAGE_OVERHEAD_TOKENS > self.spec.max_context_tokens:
            return self._start()  # the context is full: a new session
        self.turn += 1
        return self._send({"role": "user", "content": TOOL_HEADER + words(n, self.rng)}, n, max_tokens)

    keeps_replies = True
    """The model's answers join the session's history."""

    def reply(self, text: str | None) -> None:
        """The model's answer joins the history; a failed request (None) ends the session."""
        if text is None:
            self.open = False
            return
        self.history.append({"role": "assistant", "content": text})
        self.tokens += estimate_tokens(text) + MESSAGE_OVERHEAD_TOKENS
        self.open = True
