"""Read a `gates` section: from a spec, from a separate gates file, or from a logged run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import SpecError
from harness.spec.gates import GatesSpec
from harness.spec.loader import format_validation_error, read_yaml

NameCheck = Callable[[GatesSpec, str], None]
"""Checks a parsed gates section further (given it and the field prefix), raising SpecError: the CLI passes
harness.tracking.contract.check_gates, which knows every metric name the harness logs."""


def parse_gates(data: Any, prefix: str = "gates.", check: NameCheck | None = None) -> GatesSpec:
    """Validate a gates mapping; errors name the field (with `prefix`) and the fix."""
    if not isinstance(data, dict):
        raise SpecError([f"{prefix.rstrip('.')}: must be a mapping (slo:, quality_floor:, relative:, baseline:)"])
    try:
        gates = GatesSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, GatesSpec, prefix=prefix)) from None
    if check is not None:
        check(gates, prefix)
    return gates


def load_gates_file(path: str | Path, check: NameCheck | None = None) -> GatesSpec:
    """A YAML file holding either a whole experiment spec (its `gates:` section is used) or only a gates section."""
    data = read_yaml(path)
    if "gates" in data:
        return parse_gates(data["gates"], f"{path}: gates.", check)
    return parse_gates(data, f"{path}: ", check)
