"""`harness plan SPEC`: the blocks and wall time a decision at the spec's target margin needs, before the long run.

From a pilot it runs itself (`--pilot-blocks N` interleaved blocks of the spec's variants, logged like any sweep)
or from a previous sweep's logged variance (`--from-experiment NAME`: the sweep run's `repeats/log_ratio_sd/*`,
else recomputed from its repeat runs). Per target metric and per headline performance metric: the between-block
sd of the log-ratios, the blocks to detect a difference of the margin and to show equivalence within it
(harness.stats.plan.plan_blocks, 80% power), the wall time at the pilot's block time, and whether it fits in
`repeats.max_blocks`.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

from harness.cli.common import add_spec_arguments, spec_from_args

DEFAULT_PILOT_BLOCKS = 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="blocks and wall time a decision at the spec's target margin needs (from a pilot or a past sweep)")
    add_spec_arguments(p)
    p.add_argument("--pilot-blocks", type=int, default=DEFAULT_PILOT_BLOCKS,
                   help=f"interleaved blocks of the pilot run (default {DEFAULT_PILOT_BLOCKS}; at least 2)")
    p.add_argument("--from-experiment", metavar="NAME",
                   help="no pilot: the variance logged by the latest sweep of this MLflow experiment")
    p.add_argument("--tracking-uri", help="MLflow tracking URI for --from-experiment (default: the spec's, else MLFLOW_TRACKING_URI or mlruns/)")
    p.set_defaults(func=command)


@dataclass
class Variance:
    """What the planner knows of one metric: the between-block sd of the log-ratios (None: unknown), the within-window
    split-half sd if logged, how many blocks it came from."""

    metric: str
    sd: float | None
    split_half_sd: float | None = None
    blocks: int = 0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def command(args: argparse.Namespace) -> int:
    from harness.errors import SpecError

    spec = spec_from_args(args)
    if args.from_experiment:
        variance, block_s, source = from_experiment(spec, args.from_experiment, args.tracking_uri)
    else:
        if args.pilot_blocks < 2:
            raise SpecError([f"--pilot-blocks {args.pilot_blocks}: a between-block sd needs at least 2 blocks"])
        variance, block_s, source = pilot(spec, args.pilot_blocks)
    print(render(spec, variance, block_s, source))
    return 0


def pilot(spec, blocks: int):
    """Run `blocks` interleaved blocks of the spec's variants (no target, no comparison) and measure their variance."""
    from harness.pipeline import run_experiment
    from harness.pipeline.adaptive import baseline_of, metric_names
    from harness.pipeline.presenter import Presenter

    repeats = spec.repeats.model_copy(update={"target": None, "count": blocks, "order": "interleaved"})
    pilot_spec = spec.model_copy(update={"repeats": repeats})
    result = run_experiment(pilot_spec, Presenter(_say), compare=False)
    from harness.outcome import RepeatedOutcome
    from harness.pipeline.adaptive import BlockValues

    values = BlockValues()
    for outcome in result.sweep.outcomes:
        if isinstance(outcome, RepeatedOutcome):
            for block, one in zip(outcome.blocks, outcome.repeats):
                values.add(block, one.variant.name, one)
    names = [v.name for v in spec.variants]
    source = f"a pilot of {blocks} blocks (MLflow experiment '{result.sweep.experiment}', sweep run {result.sweep.parent_run_id})"
    return _measured(values, names, baseline_of(spec), metric_names(spec)), values.block_s(names), source


def from_experiment(spec, experiment: str, uri: str | None):
    """The latest finished sweep of `experiment`: its logged variance metrics, else recomputed from its repeat runs."""
    from harness.pipeline.adaptive import BlockValues, baseline_of, metric_names
    from harness.tracking.contract import SweepMetric
    from harness.tracking.mlflow_errors import mlflow_errors
    from harness.tracking.reader import RunStore

    store = RunStore(uri or spec.tracking.uri)
    sweep_id, _ = store.latest_finished_sweep(experiment)
    with mlflow_errors(f"cannot read sweep run {sweep_id}"):
        logged = dict(store.client.get_run(sweep_id).data.metrics)
    runs = store.load_runs([sweep_id]).runs
    names = [r.name for r in runs if not r.failed]
    baseline = baseline_of(spec) if baseline_of(spec) in names else (names[0] if names else "")
    values = BlockValues()
    for r in runs:
        for i, metrics in enumerate(r.repeats):
            values.add_metrics(r.blocks[i] if r.blocks else i, r.name, metrics)
    recomputed = _measured(values, names, baseline, metric_names(spec))
    out = []
    for v in recomputed:
        sd = logged.get(SweepMetric.LOG_RATIO_SD.format(metric=v.metric), v.sd)
        half = logged.get(SweepMetric.SPLIT_HALF_SD.format(metric=v.metric), v.split_half_sd)
        out.append(Variance(v.metric, sd, half, v.blocks))
    block_s = logged.get(SweepMetric.BLOCK_S, values.block_s(names))
    return out, block_s, f"experiment '{experiment}', sweep run {sweep_id} ({len(values.values)} blocks)"


def _measured(values, names: list[str], baseline: str, metrics: list[str]) -> list[Variance]:
    from harness.pipeline.adaptive import variance_metrics
    from harness.tracking.contract import SweepMetric

    logged = variance_metrics(values, names, baseline, metrics)
    out = []
    for m in metrics:
        n = len(values.complete(names, [m]))
        out.append(Variance(m, logged.get(SweepMetric.LOG_RATIO_SD.format(metric=m)),
                            logged.get(SweepMetric.SPLIT_HALF_SD.format(metric=m)), n))
    return out


def render(spec, variance: list[Variance], block_s: float | None, source: str) -> str:
    """One line per metric: sd, blocks to detect and to show equivalence at its margin, wall time, reachable or not."""
    from harness.stats.decide import DEFAULT_MARGIN
    from harness.stats.plan import plan_blocks

    r = spec.repeats
    margins = {t.metric: t.margin for t in r.target or []}
    limit = r.max_blocks
    lines = [f"plan for '{spec.name}' from {source}",
             f"per block: {_duration(block_s)} (every variant measured once); limit: repeats.max_blocks = {limit}"]
    out_of_reach = []
    for v in variance:
        margin = margins.get(v.metric, DEFAULT_MARGIN)
        role = "target" if v.metric in margins else "headline"
        head = f"  {v.metric} ({role}, +-{margin:.0%}):"
        half = "" if v.split_half_sd is None else f", within-window split-half sd {v.split_half_sd:.4f}"
        if v.sd is None or not v.sd > 0 or not math.isfinite(v.sd):
            lines.append(f"{head} no estimate (fewer than 2 complete blocks, or zero spread){half}")
            continue
        plan = plan_blocks(margin, v.sd, max_blocks=limit)
        time = "" if block_s is None else f", ~{_duration(plan.blocks * block_s)}"
        verdict = "reachable" if plan.reachable else f"OUT OF REACH of {limit} blocks"
        lines.append(f"{head} log-ratio sd {v.sd:.4f} between blocks (n={v.blocks}{half}): {plan.detect_blocks} blocks to detect, "
                     f"{plan.equivalence_blocks} to show equivalence{time}: {verdict}")
        if role == "target" and not plan.reachable:
            out_of_reach.append(v.metric)
    lines.append("the group-sequential design's last look needs a few blocks more than these fixed-design counts; "
                 "its earlier looks often stop sooner (docs/statistics.md)")
    if out_of_reach:
        lines.append(f"out of reach within max_blocks {limit}: {', '.join(out_of_reach)}: raise max_blocks, widen the "
                     "margin, or make the measurement quieter (longer windows, a quieter host)")
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown time"
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"
