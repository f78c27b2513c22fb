"""Experiment spec: models and loader."""

from harness.spec.loader import build_spec, load_spec, resolve_variants
from harness.spec.model import (
    EMBEDDED_MODEL,
    ExperimentSpec,
    LengthDist,
    LoadSpec,
    QualitySpec,
    ResolvedVariant,
    ServerSpec,
    TrackingSpec,
)

__all__ = [
    "EMBEDDED_MODEL",
    "ExperimentSpec",
    "LengthDist",
    "LoadSpec",
    "QualitySpec",
    "ResolvedVariant",
    "ServerSpec",
    "TrackingSpec",
    "build_spec",
    "load_spec",
    "resolve_variants",
]
