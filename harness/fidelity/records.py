"""What one pass produced per prompt, and the reference file later sweeps compare against.

`reference.jsonl` holds one prompt a line:

    {"prompt_id": "synthetic-1234-0007", "prompt": "...", "text": "...", "finish_reason": "length",
     "tokens": ["The", " moon", ...], "token_ids": [504, 6933, ...] | null, "logprobs": [-0.41, ...],
     "top_logprobs": [[["The", 504, -0.41], ["A", 49, -1.7], ...], ...],
     "prompt_token_ids": [...] | null, "forced": null, "seconds": 0.31}

`top_logprobs` holds, per generated position, `[token, id or null, logprob]` triples (a list
rather than a {token: logprob} map, since distinct ids may decode to the same text); `forced`
holds a variant's distributions along the reference's tokens when it was teacher-forced.
`reference.meta.json` beside it says how the pass was made (settings, engine, model).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import FidelityError

Entry = tuple[str, int | None, float]
"""One token of a top-k list: its text, its id (None when the engine gives none), its log-probability."""

FORMAT = 1


@dataclass(frozen=True)
class Generation:
    """One prompt's greedy reply with its per-position top-k log-probabilities."""

    prompt_id: str
    prompt: str
    text: str
    finish_reason: str | None
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...] | None
    """Generated ids, where the engine gives them (llama-server: always; vLLM: with return_token_ids)."""
    logprobs: tuple[float, ...]
    top: tuple[tuple[Entry, ...], ...]
    """Per position the top-k entries, the chosen token always among them."""
    prompt_token_ids: tuple[int, ...] | None = None
    """The chat-templated prompt as the engine tokenized it (vLLM), needed to teacher-force."""
    forced: tuple[tuple[Entry, ...], ...] | None = None
    """This server's top-k at each position of the reference's tokens, given the reference's prefix."""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt_id": self.prompt_id, "prompt": self.prompt, "text": self.text, "finish_reason": self.finish_reason,
            "tokens": list(self.tokens), "token_ids": None if self.token_ids is None else list(self.token_ids),
            "logprobs": [_finite(x) for x in self.logprobs],
            "top_logprobs": [[[t, i, _finite(lp)] for t, i, lp in step] for step in self.top],
            "prompt_token_ids": None if self.prompt_token_ids is None else list(self.prompt_token_ids),
            "forced": None if self.forced is None else [[[t, i, _finite(lp)] for t, i, lp in s] for s in self.forced],
            "seconds": round(self.seconds, 4),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Generation":
        def steps(rows: list) -> tuple[tuple[Entry, ...], ...]:
            return tuple(tuple((str(t), None if i is None else int(i), float(lp)) for t, i, lp in step) for step in rows)

        ids, prompt_ids, forced = d.get("token_ids"), d.get("prompt_token_ids"), d.get("forced")
        return cls(
            prompt_id=str(d["prompt_id"]), prompt=str(d["prompt"]), text=str(d.get("text", "")),
            finish_reason=d.get("finish_reason"), tokens=tuple(str(t) for t in d["tokens"]),
            token_ids=None if ids is None else tuple(int(i) for i in ids),
            logprobs=tuple(float(x) for x in d["logprobs"]), top=steps(d["top_logprobs"]),
            prompt_token_ids=None if prompt_ids is None else tuple(int(i) for i in prompt_ids),
            forced=None if forced is None else steps(forced), seconds=float(d.get("seconds", 0.0)),
        )


def _finite(x: float) -> float:
    """-inf (a token the engine gives probability 0) as vLLM writes it, -9999.0: JSON has no infinity."""
    return max(x, -9999.0) if not math.isnan(x) else -9999.0


@dataclass(frozen=True)
class PassInfo:
    """How a pass was made: enough to tell whether a later comparison is like for like."""

    max_tokens: int
    top_k: int
    seed: int
    source: str
    engine: str
    model: str
    base_url: str = ""
    server: dict[str, str] = field(default_factory=dict)
    """What the server said about itself (version, build)."""
    created: float = 0.0
    format: int = FORMAT


@dataclass(frozen=True)
class Reference:
    """The baseline's pass, read back: generations by prompt id, in prompt order."""

    generations: dict[str, Generation]
    info: PassInfo | None
    path: Path | None = None


def save_pass(path: Path, generations: list[Generation], info: PassInfo) -> Path:
    """Write `generations` as JSON lines (and `<stem>.meta.json`) atomically; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with partial.open("w") as fh:
        for g in generations:
            fh.write(json.dumps(g.to_json(), ensure_ascii=False) + "\n")
    partial.replace(path)
    meta_path(path).write_text(json.dumps(asdict(info), indent=1) + "\n")
    return path


def meta_path(path: Path) -> Path:
    return path.with_name(path.stem + ".meta.json")


def load_reference(path: Path) -> Reference:
    """A saved pass (a baseline's `reference.jsonl`, or any variant's `generations.jsonl`)."""
    path = Path(path)
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise FidelityError(f"fidelity reference {path}: {exc.strerror or exc}") from exc
    generations: dict[str, Generation] = {}
    for n, line in enumerate(lines, 1):
        try:
            g = Generation.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise FidelityError(f"fidelity reference {path}, line {n}: not a fidelity record ({exc})") from exc
        generations[g.prompt_id] = g
    if not generations:
        raise FidelityError(f"fidelity reference {path} holds no prompts")
    info = None
    try:
        raw = json.loads(meta_path(path).read_text())
        info = PassInfo(**{k: v for k, v in raw.items() if k in PassInfo.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        pass
    return Reference(generations, info, path)
