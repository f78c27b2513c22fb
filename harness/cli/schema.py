"""`harness schema`: the spec's JSON schema (every field with its description), or with `--markdown` the reference."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON schema of the experiment spec")
    p.add_argument("--markdown", action="store_true", help="the spec reference as Markdown instead (docs/spec-reference.md)")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from harness.spec.model import ExperimentSpec

    schema = ExperimentSpec.model_json_schema()
    if args.markdown:
        from harness.spec.reference import markdown

        print(markdown(schema), end="")
    else:
        print(json.dumps(schema, indent=2))
    return 0
