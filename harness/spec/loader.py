"""Load a spec with precedence: defaults < YAML < environment < CLI overrides.

Environment: `HARNESS_<SECTION>__<FIELD>=value` (double underscore nests, case-insensitive),
plus the conventional `HARNESS_DATA_DIR` (quality.data_dir) and `MLFLOW_TRACKING_URI`
(tracking.uri). CLI: repeated `--set dotted.path=value`. Values from the environment and CLI
are parsed as YAML scalars (so `8` is an int and `true` a bool).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.errors import SpecError
from harness.spec.fidelity import check_fidelity
from harness.spec.model import ExperimentSpec, ResolvedVariant, ServerSpec
from harness.spec.yaml_reader import parse_yaml, read_yaml_file

ENV_PREFIX = "HARNESS_"
_ENV_ALIASES = {"HARNESS_DATA_DIR": "quality.data_dir", "MLFLOW_TRACKING_URI": "tracking.uri"}


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Return base with `over` merged in; nested mappings merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


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


def _field_description(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    current: Any = model
    desc = None
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return desc
        info = fields[part]
        desc = info.description
        ann = info.annotation
        current = _model_in(ann)
    return desc


def _model_in(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def format_validation_error(err: ValidationError, model: type[BaseModel], prefix: str = "") -> list[str]:
    """Turn a pydantic error into lines naming the field, the problem and the fix."""
    lines = []
    for item in err.errors():
        loc = tuple(item["loc"])
        where = prefix + ".".join(str(p) for p in loc) if loc else (prefix.rstrip(".") or "<spec>")
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            parent = loc[:-1]
            known = _known_fields(model, parent)
            hint = f"remove it; known fields here: {', '.join(known)}" if known else "remove it"
            lines.append(f"{where}: unknown field ({hint})")
            continue
        desc = _field_description(model, loc)
        got = item.get("input")
        shown = repr(got)
        got_txt = "" if isinstance(got, (dict, list)) else f" (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
        fix = f" — expected: {desc}" if desc else ""
        lines.append(f"{where}: {msg}{got_txt}{fix}")
    return lines


def _known_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = _model_in(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    data = read_yaml_file(p) or {}
    if not isinstance(data, dict):
        raise SpecError([f"{p}: the top level must be a mapping (name:, server:, variants:, ...)"])
    return data


def build_spec(
    yaml_data: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    assignments: list[str] | None = None,
) -> ExperimentSpec:
    """Merge the layers and validate the result, variants included."""
    merged = deep_merge(yaml_data or {}, env_overrides(environ))
    merged = deep_merge(merged, cli_overrides(assignments or []))
    try:
        spec = ExperimentSpec.model_validate(merged)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, ExperimentSpec)) from None
    resolve_variants(spec)  # fail early on a bad variant
    problems = check_fidelity(spec)
    if problems:
        raise SpecError(problems)
    return spec


def load_spec(path: str | Path, environ: Mapping[str, str] | None = None, assignments: list[str] | None = None) -> ExperimentSpec:
    return build_spec(read_yaml(path), environ, assignments)


def resolve_variants(spec: ExperimentSpec) -> list[ResolvedVariant]:
    """Deep-merge each variant's server overrides over the base server and validate them."""
    base = spec.server.model_dump(mode="python", exclude_unset=False)
    problems: list[str] = []
    out: list[ResolvedVariant] = []
    for i, variant in enumerate(spec.variants):
        merged = deep_merge(base, variant.server)
        try:
            server = ServerSpec.model_validate(merged)
        except ValidationError as err:
            problems += format_validation_error(err, ServerSpec, prefix=f"variants.{i}({variant.name}).server.")
            continue
        out.append(ResolvedVariant(name=variant.name, description=variant.description, server=server))
    if problems:
        raise SpecError(problems)
    return out
