"""`load.workload.prefix_pool`: N groups that each share a prefix of `prefix_tokens`, every request adding its own suffix.

The group's prefix is the request's system message (after the shared system prompt, when `load.system_prompt_tokens`
is set), so every chat template puts it first and a prefix cache can serve it; the suffix is the user message, a
synthetic prompt of `suffix_tokens` (harness/loadgen/prompts.py). A prefix is seeded text of one-token words
(harness/words.py): the same for every user and process of a seed, different across groups. Each request picks its
group with the `mix` weights, seeded by (seed, stream): reproducible.
"""

from __future__ import annotations

import random

from harness.loadgen.prompts import PromptGenerator, system_prompt
from harness.loadgen.workload import ChatRequest
from harness.spec.load import LoadSpec
from harness.words import words


def group_prefix(group: int, tokens: int, seed: int) -> str:
    """Group `group`'s shared prefix: `tokens` seeded words (one token each), the same in every process of the seed."""
    return words(tokens, random.Random(f"{seed}:prefix:{group}"))


class Source:
    """One user's requests: a group's prefix (system message) + its own suffix (user message)."""

    @classmethod
    def prepare(cls, load: LoadSpec) -> list[str]:
        """Every group's system message, built once per process."""
        pool = load.workload.prefix_pool
        assert pool is not None
        head = system_prompt(load.system_prompt_tokens, load.seed) + "\n\n" if load.system_prompt_tokens else ""
        return [head + group_prefix(g, pool.prefix_tokens, load.seed) for g in range(pool.groups)]

    def __init__(self, load: LoadSpec, stream: int, prepared: list[str]):
        pool = load.workload.prefix_pool
        assert pool is not None
        self.prefixes = prepared
        self.weights = pool.mix
        self.prefix_tokens = load.system_prompt_tokens + pool.prefix_tokens
        self.rng = random.Random(f"{load.seed}:{stream}:prefix_pool")
        self.gen = PromptGenerator(pool.suffix_tokens, load.output_tokens, load.seed, stream=stream, kind=load.prompt_kind)
        self.count = 0

    def next(self, index: int | None = None) -> ChatRequest:
        group = self.rng.choices(range(len(self.prefixes)), weights=self.weights)[0]
        suffix = self.gen.next()
        msgs = [{"role": "system", "content": self.prefixes[group]}, {"role": "user", "content": suffix.text}]
        req = ChatRequest(msgs, suffix.max_tokens, self.prefix_tokens + suffix.target_tokens, self.count, 0, prefix_group=group)
        self.count += 1
        return req

    keeps_replies = False
    """Requests are independent."""

    def reply(self, text: str | None) -> None:
        """Requests are independent: a reply changes nothing."""
