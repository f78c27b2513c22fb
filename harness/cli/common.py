"""Arguments shared by commands that read a spec."""

from __future__ import annotations

import argparse

from harness.spec.loader import load_spec
from harness.spec.model import ExperimentSpec


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
    spec = load_spec(args.spec, assignments=args.overrides)
    if args.variant:
        from harness.errors import SpecError

        known = [v.name for v in spec.variants]
        unknown = [v for v in args.variant if v not in known]
        if unknown:
            raise SpecError([f"--variant {unknown}: not in the spec; variants are {known}"])
        spec.variants = [v for v in spec.variants if v.name in args.variant]
    return spec
