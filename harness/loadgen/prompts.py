"""Seeded synthetic prompts with controlled lengths.

Without a tokenizer, lengths are in words drawn from a list of common English words that
BPE tokenizers encode as one token each (harness/words.py); the server's reported prompt tokens
are what the metrics use. With `load.workload.exact_lengths` the words and the instruction's length
are fitted to the served model's tokenizer first (`use_fit`), so a chat prompt is its target length.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness import words as vocabulary
from harness.spec.load import LengthDist
from harness.words import words

_INSTRUCTION = "Read the words above and write a short story that uses as many of them as you can."
_QUESTION = "Using only the document above, summarise what it says about the first and the last sentence."
_SYSTEM_TAIL = "You are a helpful assistant. Answer the user's request."


_tail_tokens: int | None = None
"""Tokens of `instruction_tail()` by the served model's tokenizer (`use_fit`); None = estimated from its words."""


def instruction_tail() -> str:
    """The fixed text after a synthetic chat prompt's words."""
    return "\n\n" + _INSTRUCTION


def use_fit(words_: list[str], tail_tokens: int | None) -> None:
    """`load.workload.exact_lengths` in this process (harness/load/exact_lengths.py measured it): prompts draw from the
    one-token words, and a chat prompt of target n is n - tail_tokens words and the instruction, n tokens exactly."""
    global _tail_tokens
    vocabulary.use(words_)
    _tail_tokens = tail_tokens


def document(n: int, rng: random.Random) -> str:
    """About `n` tokens of sentence-shaped text (one word ~ one token; full stops add a few)."""
    out, left = [], max(1, n)
    while left > 0:
        k = min(left, rng.randint(8, 20))
        out.append(words(k, rng).capitalize() + ".")
        left -= k
    return " ".join(out)


def system_prompt(n: int, seed: int) -> str:
    """The shared system prompt: the same text for every user and process of a seed."""
    rng = random.Random(f"{seed}:system")
    body = max(1, n - len(_SYSTEM_TAIL.split()))
    return words(body, rng) + "\n\n" + _SYSTEM_TAIL


def sample_length(dist: LengthDist, rng: random.Random) -> int:
    hi = dist.max if dist.max is not None else 2 * dist.mean
    if dist.kind == "fixed":
        return dist.mean
    if dist.kind == "uniform":
        return rng.randint(dist.min, hi)
    value = round(rng.gauss(dist.mean, dist.stdev))
    return max(dist.min, min(hi, value))


@dataclass(frozen=True)
class PromptSample:
    text: str
    target_tokens: int
    max_tokens: int


class PromptGenerator:
    """Deterministic for a given seed and stream index."""

    def __init__(self, prompt_dist: LengthDist, output_dist: LengthDist, seed: int, stream: int = 0, kind: str = "chat"):
        self.prompt_dist = prompt_dist
        self.output_dist = output_dist
        self.kind = kind
        self.rng = random.Random(f"{seed}:{stream}")

    def next(self) -> PromptSample:
        n = sample_length(self.prompt_dist, self.rng)
        if self.kind == "document_qa":
            overhead = len(_QUESTION.split()) + 4
            text = "Document:\n" + document(n - overhead, self.rng) + "\n\n" + _QUESTION
        else:
            overhead = _tail_tokens if _tail_tokens is not None else len(_INSTRUCTION.split()) + 2
            text = words(n - overhead, self.rng) + instruction_tail()
        return PromptSample(text=text, target_tokens=n, max_tokens=sample_length(self.output_dist, self.rng))
