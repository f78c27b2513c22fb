"""Find the baseline run of each candidate in MLflow (by run id, by tag, or a variant of the same sweep)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.errors import ExperimentNotFound, RunNotFound
from harness.spec.gates import BaselineSpec
from harness.tracking.reader import RunRecord

if TYPE_CHECKING:
    from harness.tracking.reader import RunStore


def baseline_name(spec: BaselineSpec | None, names: Sequence[str]) -> str | None:
    """The variant of one sweep every other is compared with: gates.baseline.variant when it is one of `names`, else
    the first (None: no names). The adaptive repeats' baseline (harness.pipeline.adaptive) and the report's
    (`sweep_baseline`)."""
    wanted = spec.variant if spec is not None else None
    return wanted if wanted in names else next(iter(names), None)


def sweep_baseline(spec: BaselineSpec | None, runs: list[RunRecord]) -> RunRecord | str | None:
    """The baseline run among one run set's `runs` (`baseline_name`): with no gates.baseline the first finished run;
    for gates.baseline.variant (no run_id or tag) the last run of that variant, or why it cannot serve (not among
    the runs, failed). None: no finished run, or the baseline is another sweep's (`resolve_baselines`)."""
    if spec is not None and (spec.variant is None or spec.run_id is not None or spec.tag is not None):
        return None
    pool = runs if spec is not None else [r for r in runs if not r.failed]
    name = baseline_name(spec, [r.name for r in pool])
    if spec is not None and name != spec.variant:
        return f"baseline variant '{spec.variant}' is not among the compared runs ({sorted(r.name for r in runs)})"
    order = reversed(pool) if spec is not None else pool  # a named variant's last run; else the first finished one
    base = next((r for r in order if r.name == name), None)
    return f"baseline variant '{name}' failed" if base is not None and base.failed else base


def pick(pool: list[RunRecord], candidate: RunRecord, spec: BaselineSpec, where: str) -> RunRecord | str:
    """The baseline for `candidate` out of `pool` (the baseline sweep's variants), or why there is none."""
    if len(pool) == 1 and spec.variant is None:
        return pool[0]
    want = spec.variant or candidate.name
    found = [r for r in pool if r.name == want]
    if not found:
        return f"baseline {where} has no variant '{want}' (it has {sorted(r.name for r in pool)})"
    base = found[-1]
    if base.failed:
        return f"baseline run {base.run_id} ({base.name}) failed; it cannot serve as a baseline"
    return base


def resolve_baselines(store: "RunStore", spec: BaselineSpec | None, candidates: list[RunRecord],
                      experiment: str) -> dict[str, RunRecord | str]:
    """Candidate run id -> its baseline run, or why none was found (a gate error, not a pass).

    A baseline that does not exist is reported per candidate; a store that cannot be read raises.
    """
    if spec is None:
        return {}
    out: dict[str, RunRecord | str] = {}
    if spec.run_id is not None or spec.tag is not None:
        try:
            if spec.run_id is not None:
                rid, where = spec.run_id, f"run {spec.run_id}"
            else:
                exp = spec.experiment or experiment
                rid = store.latest_sweep_id(exp, spec.tag)
                where = f"sweep {rid} (latest tagged {spec.tag} in '{exp}')"
            pool = store.load_runs([rid]).runs
        except (RunNotFound, ExperimentNotFound) as exc:
            return {r.run_id: f"baseline not found: {exc}" for r in candidates}
        return {r.run_id: pick(pool, r, spec, where) for r in candidates}
    # a variant of the candidate's own sweep
    for r in candidates:
        if r.parent_id is None:
            out[r.run_id] = f"run {r.run_id} is not part of a sweep; baseline.variant needs one (or give baseline.run_id / tag)"
            continue
        try:
            pool = store.load_runs([r.parent_id]).runs
        except (RunNotFound, ExperimentNotFound) as exc:
            out[r.run_id] = f"baseline not found: {exc}"
            continue
        out[r.run_id] = pick(pool, r, spec, f"sweep {r.parent_id}")
    return out
