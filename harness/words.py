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


def words(n: int, rng: random.Random) -> str:
    """`n` seeded words (at least one), each one token for common BPE tokenizers."""
    return " ".join(rng.choice(WORDS) for _ in range(max(1, n)))
