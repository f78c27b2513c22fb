"""`load.workload.exact_lengths`: synthetic prompts of k words are k tokens, fitted before the load starts.

The tokenizer `load.workload.exact_lengths` names (the counters of harness/load/tokens.py: the server's own
POST /tokenize, or a tokenizer.json / .gguf file) counts every word of `harness/words.py` with and without its
leading space; the words that are one token both ways are the vocabulary the Locust processes draw from. The
fixed text after the words (the instruction of harness/loadgen/prompts.py) is counted once, and additivity is
checked on seeded sample prompts: count(prompt of k words) == k + that count. The fit is written next to the
records (`exact_lengths.json`, read by each Locust process: `--harness-words`); after the run, the achieved
prompt lengths (the server's `usage.prompt_tokens` against their targets, `Achieved`) are added to it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import TokenizerError
from harness.load.records import RequestRecord
from harness.load.stats import target_fit, targeted_first_turns
from harness.load.tokens import make_counter
from harness.loadgen.prompts import instruction_tail
from harness.server.endpoint import Endpoint
from harness.spec.model import LoadSpec
from harness.words import WORDS, words

MIN_WORDS = 32
"""Fewer one-token words than this: the tokenizer is not one that `harness/words.py` suits; an error."""
SAMPLES = (8, 33, 200)
"""Word counts of the sample prompts whose token counts must add up."""


@dataclass(frozen=True)
class Fit:
    words: list[str]
    """The words of `harness/words.py` that are one token with and without a leading space."""
    tail_tokens: int
    """Tokens of the text after the words of a synthetic chat prompt (`instruction_tail()`)."""
    counter: str
    """What counted (the tokenizer's name)."""

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    def describe(self) -> str:
        return (f"exact prompt lengths: {len(self.words)} of {len(WORDS)} words are one token by {self.counter}; "
                f"the instruction after them is {self.tail_tokens} tokens; sums checked on prompts of {', '.join(map(str, SAMPLES))} words")


def fit(load: LoadSpec, endpoint: Endpoint) -> Fit:
    """The vocabulary and instruction length for `load.workload.exact_lengths`; raises TokenizerError when they don't add up."""
    value = load.workload.exact_lengths
    assert value is not None
    counter = make_counter(value, endpoint)
    counts = counter.count([f" {w}" for w in WORDS] + list(WORDS))
    kept = [w for w, spaced, bare in zip(WORDS, counts[: len(WORDS)], counts[len(WORDS):]) if spaced == 1 and bare == 1]
    if len(kept) < MIN_WORDS:
        raise TokenizerError(f"load.workload.exact_lengths: only {len(kept)} of the {len(WORDS)} prompt words are one token by "
                             f"{counter.name} (at least {MIN_WORDS} needed); leave exact_lengths unset for this tokenizer")
    tail = instruction_tail()
    rng = random.Random(f"{load.seed}:exact_lengths")
    samples = [words(k, rng, kept) for k in SAMPLES]
    tail_tokens, *sums = counter.count([tail, *[s + tail for s in samples]])
    for k, got in zip(SAMPLES, sums):
        if got != k + tail_tokens:
            raise TokenizerError(
                f"load.workload.exact_lengths: by {counter.name}, a prompt of {k} one-token words and the instruction "
                f"({tail_tokens} tokens) is {got} tokens, not {k + tail_tokens}: the tokenizer merges across words, so "
                "lengths cannot be exact by construction; leave exact_lengths unset"
            )
    return Fit(kept, tail_tokens, counter.name)


@dataclass(frozen=True)
class Achieved:
    """The achieved prompt lengths against their targets (first turns; later ones carry their history).

    The server's `usage.prompt_tokens` include the chat template's tokens, a constant per prompt shape: the
    smallest difference to the target is taken as that constant, and what lies above it was not exact.
    """

    requests: int
    template_tokens: int
    exact: int
    worst_extra: int
    lengths: tuple[int, int, int]
    """Server prompt tokens: min, median, max."""

    @classmethod
    def of(cls, records: Sequence[RequestRecord]) -> "Achieved | None":
        fit = target_fit(records)
        if fit is None:
            return None
        lengths = sorted(r.prompt_tokens for r in targeted_first_turns(records))
        return cls(*fit, (lengths[0], lengths[len(lengths) // 2], lengths[-1]))

    def describe(self) -> str:
        lo, mid, hi = self.lengths
        return (f"achieved prompt tokens (server): min {lo}, median {mid}, max {hi} over {self.requests} requests; target + "
                f"{self.template_tokens} (the chat template) for {self.exact} ({100 * self.exact / self.requests:.0f}%), at most "
                f"{self.worst_extra} more for the rest")

    def record(self, path: Path) -> None:
        """Added to the fit's file (`exact_lengths.json`) beside the vocabulary."""
        data = json.loads(path.read_text()) if path.is_file() else {}
        path.write_text(json.dumps({**data, "achieved": {**asdict(self), "said": self.describe()}}))
