"""`server.model: synthetic://<shape>`: a published architecture served with random weights (vLLM `--load-format dummy`).

What the spec knows about synthetic sources: how they are written, which shapes exist (the package data files of
harness/server/shapes, read as files: the spec does not import the server layer), and what may not run on them:
quality and fidelity scores of random weights say nothing about a model. The folder vLLM loads is made by
harness/server/synthetic.py.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.spec.model import ExperimentSpec

PREFIX = "synthetic://"
QUANTIZED = ("awq", "gptq")
"""Suffixes of a shape name (`llama-2-7b-awq`): the published 4-bit checkpoints' quantization_config."""


@functools.cache
def base_shapes() -> tuple[str, ...]:
    """The architectures with a stored config.json (harness/server/shapes/<name>.json)."""
    folder = resources.files("harness") / "server" / "shapes"
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json") and p.name != "quantization.json"))


def known_shapes() -> tuple[str, ...]:
    """Every shape name: each architecture as published (16-bit) and with `-awq` / `-gptq`."""
    return tuple(f"{b}{s}" for b in base_shapes() for s in ("", *(f"-{q}" for q in QUANTIZED)))


def shape_of(model: str | None) -> str | None:
    """The shape of a `synthetic://<shape>` source (as written, not checked); None for any other source."""
    return model[len(PREFIX):] if model and model.startswith(PREFIX) else None


def split_shape(shape: str) -> tuple[str, str | None]:
    """'llama-2-7b-awq' -> ('llama-2-7b', 'awq'); 'llama-2-7b' -> ('llama-2-7b', None)."""
    for q in QUANTIZED:
        if shape.endswith(f"-{q}"):
            return shape[: -len(q) - 1], q
    return shape, None


def check_source(model: str, kind: str) -> str | None:
    """Why `server.model` cannot be this synthetic source for `server.kind` (None when it can, or is not synthetic)."""
    shape = shape_of(model)
    if shape is None:
        return None
    if shape not in known_shapes():
        return f"'{model}' is not a known synthetic shape; known: {', '.join(PREFIX + s for s in known_shapes())}"
    if kind == "llamacpp":
        return (f"'{model}' has no weights: only vLLM builds a model from its config.json with random weights "
                "(--load-format dummy); set server.kind: vllm (or openai, to attach to such a vLLM), or give llama.cpp "
                "a GGUF file")
    return None


def synthetic_variants(spec: "ExperimentSpec") -> list[str]:
    """'variant (synthetic://shape)' for each variant serving synthetic weights."""
    return [f"{v.name} ({v.server.model})" for v in spec.resolved if shape_of(v.server.model)]


def check_synthetic(spec: "ExperimentSpec", fidelity_explicit: bool) -> list[str]:
    """Quality and fidelity refused on synthetic weights (each problem names its field, why, and the fix).
    `fidelity_explicit`: the fidelity stage was asked for (`enabled: true` or a `reference`), not just defaulted on."""
    served = synthetic_variants(spec)
    if not served:
        return []
    which = ", ".join(served[:3]) + (f" and {len(served) - 3} more" if len(served) > 3 else "")
    why = (f"{which} serve synthetic weights (random values, vLLM --load-format dummy): they reproduce the "
           "model's speed and memory, not its answers")
    problems = []
    if spec.quality.enabled:
        problems.append(f"quality.enabled: {why}, so lm-eval scores (quality.tasks: {', '.join(spec.quality.tasks)}) would "
                        "be meaningless; set quality.enabled: false and score quality on the real weights")
    if fidelity_explicit:
        problems.append(f"fidelity: {why}, so agreement with a baseline's tokens would be meaningless; set "
                        "fidelity.enabled: false (and no fidelity.reference) and measure fidelity on the real weights")
    return problems
