"""Quality-plus-performance evaluation harness for LLM serving.

Python API: `run_experiment(spec)` (harness/pipeline) with a spec from `load_spec(path)`.
"""

from __future__ import annotations

from typing import Any

from harness.__version__ import __version__

__all__ = ["ExperimentResult", "load_spec", "run_experiment", "__version__"]


def __getattr__(name: str) -> Any:  # heavy modules load on first use only
    if name in ("run_experiment", "ExperimentResult"):
        from harness import pipeline

        return getattr(pipeline, name)
    if name == "load_spec":
        from harness.spec.loader import load_spec

        return load_spec
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
