"""Load a spec with precedence: defaults < YAML < environment < CLI overrides.

Environment: `HARNESS_<SECTION>__<FIELD>=value` (double underscore nests, case-insensitive),
plus the conventional `HARNESS_DATA_DIR` (quality.data_dir) and `MLFLOW_TRACKING_URI`
(tracking.uri). CLI: repeated `--set dotted.path=value`, then `--variant NAME` (only those variants).
Values from the environment and CLI are parsed as YAML scalars (so `8` is an int and `true` a bool).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import SpecError
from harness.spec.model import ExperimentSpec, ResolvedVariant
from harness.spec.problems import deep_merge, format_validation_error  # noqa: F401  (re-exported)
from harness.spec.yaml_reader import parse_yaml, read_yaml_file

ENV_PREFIX = "HARNESS_"
_ENV_ALIASES = {"HARNESS_DATA_DIR": "quality.data_dir", "MLFLOW_TRACKING_URI": "tracking.uri"}


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = [p for p in dotted.split(".") if p]
    if not parts:
        raise SpecError([f"override '{dotted}': empty key; use section.field=value"])
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SpecError([f"override '{dotted}': '{part}' is not a section"])
    node[parts[-1]] = value


def _scalar(text: str, where: str) -> Any:
    return parse_yaml(text, where, lenient=True) if text != "" else ""


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Overrides from the environment."""
    environ = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    for name, dotted in _ENV_ALIASES.items():
        if environ.get(name):
            _set_dotted(tree, dotted, environ[name])
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        dotted = name[len(ENV_PREFIX):].lower().replace("__", ".")
        _set_dotted(tree, dotted, _scalar(raw, f"environment variable {name}"))
    return tree


def cli_overrides(assignments: list[str]) -> dict[str, Any]:
    """Overrides from `--set a.b=c` arguments."""
    tree: dict[str, Any] = {}
    for item in assignments:
        if "=" not in item:
            raise SpecError([f"--set '{item}': expected dotted.path=value, e.g. load.users=8"])
        key, raw = item.split("=", 1)
        _set_dotted(tree, key.strip(), _scalar(raw, f"--set {key.strip()}"))
    return tree


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    data = read_yaml_file(p) or {}
    if not isinstance(data, dict):
        raise SpecError([f"{p}: the top level must be a mapping (name:, server:, variants:, ...)"])
    return data


def only_variants(data: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """The `--variant` layer: the merged spec with only the named variants (all when `names` is empty), so the spec is
    validated (variants resolved, fidelity checked) once, as it will run."""
    out = dict(data)
    if not names:
        return out
    given = out.get("variants", [{"name": "default"}])
    if not isinstance(given, list) or not all(isinstance(v, dict) for v in given):
        return out  # malformed: validation names what is wrong
    known = [v.get("name") for v in given]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SpecError([f"--variant {unknown}: not in the spec; variants are {known}"])
    out["variants"] = [v for v in given if v.get("name") in names]
    return out


def build_spec(
    yaml_data: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    assignments: list[str] | None = None,
    variants: list[str] | None = None,
) -> ExperimentSpec:
    """Merge the layers (YAML < environment < `--set` < `--variant`) and validate the result once: its validators
    resolve the variants and check the spec's sections against each other (ExperimentSpec)."""
    merged = deep_merge(yaml_data or {}, env_overrides(environ))
    merged = only_variants(deep_merge(merged, cli_overrides(assignments or [])), variants or [])
    try:
        return ExperimentSpec.model_validate(merged)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, ExperimentSpec)) from None


def load_spec(path: str | Path, environ: Mapping[str, str] | None = None, assignments: list[str] | None = None,
              variants: list[str] | None = None) -> ExperimentSpec:
    """The spec of a YAML file with its layers (`variants`: only those, as `harness run --variant`)."""
    return build_spec(read_yaml(path), environ, assignments, variants)


def resolve_variants(spec: ExperimentSpec) -> list[ResolvedVariant]:
    """The variants with their server blocks merged over the base server, as the spec's validation resolved them."""
    return spec.resolved
