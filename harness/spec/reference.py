"""The spec reference as Markdown, generated from the JSON schema (`harness schema --markdown`, docs/spec-reference.md).

Every section of the spec tree becomes a table of its fields: the field, its type, its default and its description,
exactly as the pydantic models declare them, so the reference cannot drift from the code (a test compares the
committed file with this output).
"""

from __future__ import annotations

import json
from typing import Any

HEADER = """# Spec reference

Generated from the spec models by `harness schema --markdown` (do not edit by hand; `tests/unit/spec/test_spec_reference.py`
checks it is current). Every section of the tree, its fields, their types, defaults and descriptions. How to write a
spec, override it and its examples: [spec.md](spec.md).
"""


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "enum" in prop:
        return " \\| ".join(json.dumps(v) for v in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"])
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return " \\| ".join(dict.fromkeys(_type(p) for p in prop[key]))
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of {_type(prop['additionalProperties'])}"
    return str(kind)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "required"
    if "default" not in prop:
        return "—"
    return f"`{json.dumps(prop['default'])}`"


def _table(title: str, schema: dict[str, Any]) -> list[str]:
    out = [f"## {title}", ""]
    if schema.get("description"):
        out += [_cell(schema["description"]), ""]
    required = set(schema.get("required", ()))
    out += ["| Field | Type | Default | Description |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        out.append(f"| `{name}` | {_cell(_type(prop))} | {_cell(_default(prop, name in required))} | {_cell(prop.get('description', ''))} |")
    return out + [""]


def markdown(schema: dict[str, Any]) -> str:
    """The reference for a model's JSON schema (`ExperimentSpec.model_json_schema()`): the root, then every section."""
    lines = [HEADER]
    lines += _table(schema.get("title", "ExperimentSpec"), schema)
    for name, sub in sorted(schema.get("$defs", {}).items()):
        if sub.get("type") == "object" or "properties" in sub:
            lines += _table(name, sub)
    return "\n".join(lines).rstrip() + "\n"
