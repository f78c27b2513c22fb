"""Spec problems in words, and the merge of spec layers: shared by the loader and the spec tree's own validators.

`format_validation_error` turns a pydantic error into lines that name the field, the problem and the fix;
`deep_merge` lays one layer of a spec over another (a variant's server over the base server, the
environment over the YAML, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Return base with `over` merged in; nested mappings merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


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
