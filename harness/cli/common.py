"""Arguments shared by commands that read a spec; specs and gates files loaded for use are checked against the MLflow contract."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from harness.spec.loader import load_spec
from harness.spec.model import ExperimentSpec

if TYPE_CHECKING:
    from harness.spec.gates import GatesSpec


def add_spec_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="experiment spec (YAML)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a spec field, e.g. --set load.users=8 (highest precedence; repeatable)",
    )
    p.add_argument("--variant", action="append", default=[], help="run only these variants (repeatable)")


def spec_from_args(args: argparse.Namespace) -> ExperimentSpec:
    """The spec with its `--set` and `--variant` layers, validated once (its gate names are checked by who uses it:
    `harness run` plans the sweep, `harness validate` checks them itself)."""
    return load_spec(args.spec, assignments=args.overrides, variants=args.variant)


def gates_from_file(path: str) -> "GatesSpec":
    """`--gates FILE`: a gates section (or a whole spec), its metric names checked against the contract."""
    from harness.spec.gates_file import load_gates_file
    from harness.tracking.contract import check_gates

    return load_gates_file(path, check_gates)
