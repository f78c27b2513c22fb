"""The headline columns of compare and the report, and which way is better for any metric."""

from __future__ import annotations

from collections.abc import Iterable

from harness.report.cells import Column
from harness.spec.gates import RecommendSpec
from harness.tracking import contract as mc
from harness.tracking.contract import higher_is_better
from harness.tracking.run_record import CI_HIGH, CI_LOW, RunRecord

ColumnSpec = tuple[str, str, bool]
"""(metric, column label, higher is better: the contract's lookup, harness.tracking.contract.higher_is_better)."""

_HEADLINE = (
    mc.GSM8K_STRICT, mc.GSM8K_FLEXIBLE, mc.IFEVAL_PROMPT_STRICT, mc.IFEVAL_INST_STRICT,
    mc.FIDELITY_TOP1, mc.FIDELITY_KL, mc.FIDELITY_IDENTICAL,
    mc.CAPACITY_RPS, mc.CAPACITY_USERS, mc.OUTPUT_TOKENS_PER_S, mc.REQUESTS_PER_S,
    mc.TTFT_P50_MS, mc.TTFT_P95_MS, mc.SERVER_TTFT_S_P50, mc.TPOT_P50_MS, mc.ITL_P95_MS, mc.E2E_P95_MS, mc.ERROR_RATE,
    mc.SERVER_REQUESTS_WAITING_MEAN, mc.SERVER_QUEUE_TIME_S_P50, mc.SERVER_QUEUE_TIME_S_MEAN,
)
"""The headline columns, in order."""
_QUALITY_LABELS = {mc.GSM8K_STRICT: "gsm8k strict", mc.GSM8K_FLEXIBLE: "gsm8k flex",
                   mc.IFEVAL_PROMPT_STRICT: "ifeval prompt strict", mc.IFEVAL_INST_STRICT: "ifeval inst strict"}
"""Short labels of the fixed quality columns (lm-eval declares a score's direction, not a label)."""
COLUMNS: list[ColumnSpec] = [(m, _QUALITY_LABELS.get(m) or mc.label(m), higher_is_better(m)) for m in _HEADLINE]
"""Each column's label and direction looked up in the contract (declared with the value; an undeclared one fails on import)."""
LABEL = {m: label for m, label, _ in COLUMNS}
PERF, FIDELITY = "perf/", "fidelity/"

OWN_COLUMNS = ("gsm8k", "ifeval")
"""Quality tasks with their own fixed columns above; every other task the runs ran gets one headline column."""
HEADLINE_FIRST = ("acc_norm", "acc", "exact_match", "pass@1", "pass_at_1", "f1", "em", "mcc", "bleu", "rouge")
"""Which of a task's metrics is its headline (the first prefix that one of its logged metrics has; else the first by name)."""
NOT_SCORES = ("_stderr", "/samples", "/reasoning_chars_mean", "/reasoning_replies", "/flexible_minus_strict")
_TASK_PARAM, _TASK_KEY = mc.Param.QUALITY_TASK, ".lm_eval_task"


def ran_tasks(runs: Iterable[RunRecord]) -> list[str]:
    """The quality tasks the runs' specs listed (params quality.task.<task>.*; not a group's members), in order."""
    out: list[str] = []
    for r in runs:
        out += [k[len(_TASK_PARAM):-len(_TASK_KEY)] for k in r.params if k.startswith(_TASK_PARAM) and k.endswith(_TASK_KEY)
                and k[len(_TASK_PARAM):-len(_TASK_KEY)] not in out]
    return out


def headline_metric(task: str, logged: Iterable[str]) -> str | None:
    """The headline metric of one task among the metric names the runs logged (`quality/<task>/<metric>`)."""
    prefix = f"quality/{task}/"
    leaves = sorted({m[len(prefix):] for m in logged if m.startswith(prefix) and not m.endswith(NOT_SCORES)
                     and not m.endswith((CI_LOW, CI_HIGH)) and "/" not in m[len(prefix):]})
    for first in HEADLINE_FIRST:
        hit = [leaf for leaf in leaves if leaf == first or leaf.startswith(first + "_")]
        if hit:
            return mc.quality_metric(task, hit[0])
    return mc.quality_metric(task, leaves[0]) if leaves else None


def task_columns(runs: list[RunRecord]) -> list[ColumnSpec]:
    """One headline column per quality task other than GSM8K/IFEval that the runs ran (label `<task> <metric>`)."""
    logged = {m for r in runs for m in r.metrics}
    out = []
    for task in ran_tasks(runs):
        metric = None if task in OWN_COLUMNS else headline_metric(task, logged)
        fact = mc.fact(metric) if metric is not None else None
        if fact is not None and fact.higher_is_better is not None:  # a score lm-eval declares no direction for: no column
            out.append((metric, f"{task} {metric.rsplit('/', 1)[-1]}", fact.higher_is_better))
    return out


def columns_for(runs: list[RunRecord]) -> list[ColumnSpec]:
    """COLUMNS with the runs' other quality tasks' headline columns after IFEval's."""
    at = next(i for i, (m, _, _) in enumerate(COLUMNS) if m.startswith(FIDELITY))
    return COLUMNS[:at] + task_columns(runs) + COLUMNS[at:]


def headline_perf() -> list[str]:
    """The headline performance metrics compared between variants: the perf/ columns, capacity at the SLO first (not
    the error rate, a sanity rule whose ratio means nothing at 0, nor the capacity search's bookkeeping)."""
    return [m for m, _, _ in COLUMNS if m.startswith(PERF) and m != mc.ERROR_RATE]


def resolved_axes(rec: RecommendSpec, runs: list[RunRecord], columns: list[ColumnSpec] | None = None) -> RecommendSpec:
    """The recommendation's objective and the Pareto axes, their defaults resolved against what the runs logged (a value
    the spec sets is kept): capacity at the SLO, where a search found it, is the headline performance metric (objective
    and throughput axis), since it is what decides how many servers a service needs; the quality axis is the first
    higher-is-better quality column the runs have (GSM8K flexible, IFEval, another task's headline, fidelity top-1).
    `columns`: `columns_for(runs)` when the caller has it already."""
    logged = {m for r in runs if not r.failed for m in r.metrics}
    update: dict[str, str] = {}
    capacity = next((m for m in (mc.CAPACITY_RPS, mc.CAPACITY_USERS) if m in logged), None)
    for name in ("objective", "throughput_metric"):
        if capacity and name not in rec.model_fields_set:
            update[name] = capacity
    if "quality_metric" not in rec.model_fields_set and rec.quality_metric not in logged:
        quality = next((m for m, _, higher in (columns if columns is not None else columns_for(runs))
                        if higher and m.startswith(("quality/", FIDELITY)) and m in logged), None)
        if quality:
            update["quality_metric"] = quality
    return rec.model_copy(update=update) if update else rec


def star_legend(level: float, margin: float, ci_methods: set[str] | None = None, stars: bool = True, intervals: bool = True,
                repeats: bool = False) -> str:
    """The legend under a table: what its stars mean (only when one appears), what its intervals are (only when
    one appears) and its repeats (only when some appear); `ci_methods`: the runs' harness.ci_method tags. Empty
    when the table shows none of them."""
    parts = []
    if stars:
        within = f"; within the relevance margin {margin:g} never worse" if margin else ""
        parts.append(f"* = best in column, and every value not shown worse than it at {level:.0%} (equivalent or "
                     f"inconclusive, after Holm over the report's comparisons{within}; from repeats or quality stderrs/samples; "
                     "without an interval only equal values tie; a value printed like a starred one is starred too)")
    if intervals:
        text = "[low, high] = the logged interval"
        if ci_methods and "requests-bootstrap" in ci_methods:
            text += ("; with 1 repeat the interval is a bootstrap over that run's requests: it leaves out the run-to-run "
                     "noise and decides nothing")
        parts.append(text)
    if repeats:
        parts.append("median (a, b, c) = the repeats themselves, in block order (fewer than 6: an interval would be weak)")
    return "; ".join(parts)


def noise_floor_line(runs) -> str | None:
    """The fidelity noise floor the runs logged (the baseline against its second pass), in one line; None without one."""
    for r in runs:
        top1, kl = r.metric(mc.NOISE_TOP1), r.metric(mc.NOISE_KL)
        if top1 is not None:
            shown = Column(3).cell(top1, r.interval(mc.NOISE_TOP1))
            kl_shown = "" if kl is None else f", KL {Column(4).cell(kl, r.interval(mc.NOISE_KL))}"
            return (f"fidelity noise floor (the baseline served twice): top-1 {shown}{kl_shown}; a variant inside it is "
                    "no different from re-serving the baseline")
    return None
