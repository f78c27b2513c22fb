"""`harness schema`: the spec's JSON schema (every field with its description)."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON schema of the experiment spec")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from harness.spec.model import ExperimentSpec

    print(json.dumps(ExperimentSpec.model_json_schema(), indent=2))
    return 0
