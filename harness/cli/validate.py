"""`harness validate SPEC`: check a spec without starting anything."""

from __future__ import annotations

import argparse

import yaml

from harness.cli.common import add_spec_arguments, spec_from_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="validate a spec and print the resolved variants")
    add_spec_arguments(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from harness.tracking.contract import check_gates

    spec = spec_from_args(args)
    check_gates(spec)  # a misspelled gate metric, as `harness run` would refuse it
    resolved = spec.resolved
    plans = []
    if spec.quality.enabled:  # task names, overrides and request types against the engines (the Hub is not probed)
        from harness.quality.preflight import check_engines
        from harness.quality.tasks import plan_tasks, resolve_data_dir

        plans = [plan for plan, _ in plan_tasks(spec.quality, resolve_data_dir(spec.quality))]
        check_engines(plans, [v.server.kind for v in resolved])
    from harness.redaction import redact, secret_values

    secrets = secret_values([v.server for v in resolved])  # keys in server flags or env are not echoed to a CI log
    print(f"spec '{spec.name}' is valid: {len(resolved)} variant(s)")
    for v in resolved:
        print(redact(yaml.safe_dump({v.name: v.server.model_dump(mode="json", exclude_defaults=True)}, sort_keys=False).rstrip(), secrets))
    from harness.spec.fidelity import fidelity_baseline, fidelity_on

    if fidelity_on(spec):
        f = spec.fidelity
        print(f"fidelity: on, against the saved reference {f.reference} (its prompts)" if f.reference else
              f"fidelity: on, {f.prompts} prompts x {f.max_tokens} tokens against the baseline {fidelity_baseline(spec)} (run first)")
    for plan in plans:
        shown = f" ({plan.scope} of {len(plan.subtasks)})" if plan.scope in ("group", "tag") else ""
        print(f"quality task {plan.task}{shown}: {plan.request}, data {plan.data_source}")
    return 0
