"""The fixed prompt set: seeded templated questions, or questions read from a local data directory."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

from harness.errors import FidelityError
from harness.spec.fidelity import FidelitySpec
from harness.words import words

_TEMPLATES = (
    "What is {x}? Answer in one sentence.",
    "Write one sentence about {x}.",
    "Give two facts about {x}.",
    "Explain {x} to a ten-year-old.",
    "List three words that come to mind for {x}.",
    "Why do people care about {x}?",
    "Describe {x} in a short paragraph.",
    "Write a haiku about {x}.",
)
_SUBJECTS = (
    "the moon", "rain", "bread", "a library", "the ocean", "bicycles", "winter", "coffee", "a volcano", "music",
    "the heart", "gravity", "a forest", "money", "the internet", "chess", "honey bees", "a bridge", "sleep",
    "the alphabet", "a river", "electricity", "friendship", "clocks", "the desert", "a garden", "snow", "maps",
    "the sun", "trains", "salt", "a museum", "mountains", "paper", "the brain", "wind", "a city", "photosynthesis",
    "fire", "birds", "numbers", "a kitchen", "the weather", "glass", "recycling", "a school", "stars", "cheese",
    "the calendar", "rivers and lakes",
)
_WORDS_TEMPLATE = "Use these words in one sentence: {x}."


@dataclass(frozen=True)
class FidelityPrompt:
    """One prompt of the set: a stable id (matched across variants) and the user message."""

    id: str
    text: str


def build_prompts(spec: FidelitySpec) -> list[FidelityPrompt]:
    """`spec.prompts` prompts from `spec.source`, the same for the same seed on every machine."""
    if spec.source == "synthetic":
        return synthetic(spec.prompts, spec.seed)
    folder = data_folder(spec.data_dir)
    if spec.source == "gsm8k":
        rows = _jsonl(folder / "gsm8k" / "test.jsonl", "question")
        return _sample([FidelityPrompt(f"gsm8k-{i:04d}", r["question"]) for i, r in enumerate(rows)], spec)
    rows = _jsonl(folder / "ifeval" / "input_data.jsonl", "prompt")
    return _sample([FidelityPrompt(f"ifeval-{r.get('key', i)}", r["prompt"]) for i, r in enumerate(rows)], spec)


def synthetic(n: int, seed: int) -> list[FidelityPrompt]:
    """Templated short questions in a seeded order; past the 400 combinations, seeded word lists."""
    rng = random.Random(f"fidelity:{seed}")
    pairs = [(t, s) for t in _TEMPLATES for s in _SUBJECTS]
    rng.shuffle(pairs)
    texts = [t.format(x=s) for t, s in pairs[:n]]
    while len(texts) < n:
        texts.append(_WORDS_TEMPLATE.format(x=", ".join(words(6, rng).split())))
    return [FidelityPrompt(f"synthetic-{seed}-{i:04d}", text) for i, text in enumerate(texts)]


def data_folder(data_dir: str | None) -> Path:
    """The data directory: `fidelity.data_dir` (filled from quality.data_dir), else `HARNESS_DATA_DIR`; never a download."""
    chosen = data_dir or os.environ.get("HARNESS_DATA_DIR")
    if not chosen:
        raise FidelityError("fidelity prompts from a dataset need a data directory: set the fidelity data_dir or "
                            "HARNESS_DATA_DIR to a folder holding gsm8k/test.jsonl or ifeval/input_data.jsonl "
                            "(the harness never downloads them), or use source: synthetic")
    return Path(chosen).expanduser()


def _jsonl(path: Path, key: str) -> list[dict]:
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise FidelityError(f"fidelity prompts: cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise FidelityError(f"fidelity prompts: {path} is not JSON lines: {exc}") from exc
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict) or not isinstance(r.get(key), str)), None)
    if bad is not None:
        raise FidelityError(f"fidelity prompts: line {bad + 1} of {path} has no {key!r} string")
    return rows


def _sample(prompts: list[FidelityPrompt], spec: FidelitySpec) -> list[FidelityPrompt]:
    """A seeded sample (without replacement), in file order; all of them when fewer than asked."""
    if spec.prompts >= len(prompts):
        return prompts
    picked = sorted(random.Random(f"fidelity:{spec.seed}").sample(range(len(prompts)), spec.prompts))
    return [prompts[i] for i in picked]
