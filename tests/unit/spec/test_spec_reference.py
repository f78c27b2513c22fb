"""docs/spec-reference.md is generated from the spec models and current (`harness schema --markdown`)."""

from __future__ import annotations

from pathlib import Path

from harness.spec.model import ExperimentSpec
from harness.spec.reference import markdown

REPO = Path(__file__).resolve().parents[3]


def test_the_committed_reference_is_the_generated_one():
    expected = markdown(ExperimentSpec.model_json_schema())
    committed = (REPO / "docs" / "spec-reference.md").read_text()
    assert committed == expected, "docs/spec-reference.md is stale: run `.venv/bin/harness schema --markdown > docs/spec-reference.md`"


def test_every_field_of_every_section_is_in_the_reference_with_its_description():
    schema = ExperimentSpec.model_json_schema()
    text = markdown(schema)
    for name, sub in [("ExperimentSpec", schema), *schema["$defs"].items()]:
        for field, prop in sub.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field} has no description"
            assert f"| `{field}` |" in text
    assert "## LoadSpec" in text and "`max_error_rate`" in text
