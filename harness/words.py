"""Common English words that BPE tokenizers encode as one token each (with their leading space).

Shared by the load generator's synthetic prompts (harness/loadgen/prompts.py, inside the Locust
process) and the fidelity stage's prompt set (harness/fidelity/prompts.py): standard library only.
"""

from __future__ import annotations

import random

WORDS = (
    "the of and to in is was he for it with as his on be at by had are but from or have an they which "
    "one you were her all she there would their we him been has when who will more no if out so said what "
    "up its about into than them can only other new some could time these two may then do first any my now "
    "such like our over man me even most made after also did many before must through back years where much "
    "your way well down should because each just those people how too little state good very make world still "
    "own see men work long get here between both life being under never day same another know while last might "
    "us great old year off come since against go came right used take three"
).split()


_vocabulary: list[str] = WORDS
"""What `words` draws from in this process (`use`)."""


def use(vocabulary: list[str]) -> None:
    """This process's prompts draw from `vocabulary`: the words one token each by the served model's tokenizer
    (`load.workload.exact_lengths`, set once per Locust process before any prompt is made)."""
    global _vocabulary
    _vocabulary = list(vocabulary)


def words(n: int, rng: random.Random, vocabulary: list[str] | None = None) -> str:
    """`n` seeded words (at least one), each one token for common BPE tokenizers (from `vocabulary` when given, else `use`'s)."""
    pool = vocabulary or _vocabulary
    return " ".join(rng.choice(pool) for _ in range(max(1, n)))
