"""From logged runs to a decision: table, Pareto frontiers, recommendation, significance, roofline, flags."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness.quality.results import GSM8K_FORMAT_GAP
from harness.report.cells import few_repeats
from harness.report.columns import COLUMNS, ColumnSpec, columns_for, headline_perf, resolved_axes, task_columns
from harness.report.differences import Differences, choose_baseline, perf_differences
from harness.report.judge import BOOTSTRAP, Judge, Samples
from harness.report.pareto import Frontier, Point, frontier
from harness.report.recommend import Recommendation, in_sweep_baselines, recommend
from harness.report.roofline import Hardware, Roofline, batch_sizes, decode_ceiling, gpu_name, match_gpu, params_from_name
from harness.report.significance import SAMPLE_METRICS, Difference, read_samples
from harness.stats.multiple import FAMILY_CORRECTION
from harness.server.engines import logged_bits_per_weight, slot_knobs
from harness.spec.gates import GatesSpec, RooflineSpec
from harness.tracking.contract import FIDELITY_TOP1, GSM8K_FLEXIBLE, GSM8K_STRICT, KNOB_PREFIX, MetricName, Tag, higher_is_better
from harness.tracking.reader import RunRecord, RunStore

if TYPE_CHECKING:
    import pandas as pd

    from harness.stats.compare import Difference as StatsDifference

SIGNIFICANCE_METRICS = tuple(SAMPLE_METRICS.values())
KNOB_PARAMS_B, KNOB_BITS_PER_WEIGHT, KNOB_KV_BYTES_PER_TOKEN = map(MetricName, ("knob/params_b", "knob/bits_per_weight", "knob/kv_bytes_per_token"))
PROMPT_TOKENS_MEAN, COMPLETION_TOKENS_MEAN = map(MetricName, ("perf/prompt_tokens_mean", "perf/completion_tokens_mean"))
DESIGN_NOTE = ("the group-sequential design's decisions on the targets (they keep its error rates; the paired t over the "
               "same blocks in the differences is for information)")


@dataclass
class DecisionReport:
    experiment: str
    sweep_id: str | None
    smoke: bool
    runs: list[RunRecord]
    gates: GatesSpec
    table: "pd.DataFrame"
    frontiers: list[Frontier]
    recommendation: Recommendation
    differences: list[Difference] = field(default_factory=list)
    """Quality: each variant against the baseline per task metric (paired bootstrap, Holm-adjusted, with the MDD)."""
    significance_note: str = ""
    flags: list[str] = field(default_factory=list)
    rooflines: list[Roofline] = field(default_factory=list)
    roofline_note: str = ""
    perf: Differences | None = None
    """Performance: each variant against the baseline per headline metric (ratio, interval, verdict)."""
    intervals: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    """(variant, column label) -> the logged interval."""
    tied: dict[str, list[str]] = field(default_factory=dict)
    """Column label -> the best and every variant not shown worse than it (starred)."""
    level: float = 0.95
    columns: list[ColumnSpec] = field(default_factory=lambda: list(COLUMNS))
    """The metric columns of the table (COLUMNS and the headline of every other quality task the runs ran)."""
    design: list[str] = field(default_factory=list)
    """An adaptive sweep's stop reason, then the group-sequential design's decision per target comparison ([]: none)."""
    repeats: dict[tuple[str, str], tuple[float, ...]] = field(default_factory=dict)
    """(variant, column label) -> its repeats when fewer than 6 (shown next to the median instead of an interval)."""


def build_table(runs: list[RunRecord], frontiers: list[Frontier], rec: Recommendation,
                columns: list[ColumnSpec] | None = None) -> "pd.DataFrame":
    import pandas as pd

    rows: dict[str, dict[str, object]] = {}
    knobs = sorted({k for r in runs for k in r.metrics if k.startswith(KNOB_PREFIX)})
    for r in runs:
        row: dict[str, object] = {"status": r.status}
        for k in knobs:
            row[k.removeprefix(KNOB_PREFIX)] = r.metrics.get(k, math.nan)
        for metric, label, _ in columns or COLUMNS:
            row[label] = r.metrics.get(metric, math.nan)
        for f in frontiers:
            label = f"pareto {f.x_metric.split('/')[-1]}"
            row[label if label not in row else f"{label} / {f.y_metric.split('/')[-1]}"] = f.status(r.name)
        row["recommended"] = "yes" if rec.chosen == r.name else "tie" if r.name in rec.tied else ""
        rows[r.name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    keep = [c for c in table.columns if not (table[c].dtype.kind == "f" and table[c].isna().all())]
    return table[keep]


def gsm8k_flags(runs: list[RunRecord]) -> list[str]:
    out = []
    for r in runs:
        strict, flex = r.metric(GSM8K_STRICT), r.metric(GSM8K_FLEXIBLE)
        if strict is None or flex is None:
            continue
        if flex - strict > GSM8K_FORMAT_GAP or (strict == 0 and flex > 0):
            out.append(
                f"{r.name}: GSM8K flexible-extract {flex:.3f} vs strict-match {strict:.3f} (gap {flex - strict:.3f}): the model answers "
                "but not in the '#### N' format — likely a prompt-format problem, not a model problem; compare variants on "
                "exact_match_flexible or fix the prompt before concluding the model is worse"
            )
    return out


def load_samples(store: "RunStore | None", runs: list[RunRecord], workdir: Path) -> Samples:
    """Per-document quality scores of each finished run (lm-eval samples artifacts), read once for the report."""
    if store is None:
        return {}
    return {r.run_id: read_samples(store.download_samples(r.run_id, workdir / r.run_id)) for r in runs if not r.failed}


def compare_quality(samples: Samples, store_known: bool, runs: list[RunRecord], baseline: RunRecord | None,
                    gates: GatesSpec, judge: Judge | None = None) -> tuple[list[Difference], str]:
    """Each variant against the baseline on the same documents: the judge's paired bootstraps (one per pair of runs
    and metric) with its family adjustment. With the report's prepared `judge` covering them, p-values adjusted over
    the report's whole quality family (the stars, frontiers and recommendation read the same); else a judge of these
    comparisons alone adjusts them."""
    if baseline is None:
        return [], "no baseline variant (set gates.baseline.variant); significance not computed"
    if not store_known:
        return [], "no MLflow store: per-sample files unavailable"
    base = samples.get(baseline.run_id, {})
    if not base:
        return [], f"baseline {baseline.name} logged no lm-eval samples (quality/…/samples_*.jsonl); significance not computed"
    rec = gates.recommend
    metrics = SIGNIFICANCE_METRICS + tuple(m for m, _, _ in task_columns(runs))
    pairs = [(r, metric) for r in runs if r.run_id != baseline.run_id and r.run_id in samples
             for metric in metrics if metric in base and metric in samples[r.run_id]]
    whole = judge is not None and bool(judge.families.get("quality")) and all(
        _adjusted(judge, baseline, r, metric) is not None for r, metric in pairs)
    if judge is None or not whole:
        judge = Judge.of(rec, samples, judge.margins if judge is not None else None)
        variants = [r for r in runs if any(v is r for v, _ in pairs)]
        judge.prepare([], [(metric, True) for metric in metrics], [(baseline, r) for r in variants])
    out = []
    for r, metric in pairs:
        boot = judge.bootstrap(r, baseline, metric)
        assert boot is not None  # both scored `metric`
        d, a = replace(boot, alpha=rec.alpha, equivalence=rec.quality_equivalence_margin), _adjusted(judge, baseline, r, metric)
        out.append(d if a is None else replace(d, p_adjusted=a.p_adjusted, correction=a.correction, family=a.family))
    if whole:
        what = (f"the {judge.families['quality']} quality comparisons of this report (every pair of variants, as the "
                "stars and frontiers use)")
    else:
        what = f"the {len(out)} quality comparisons against the baseline"
    note = (f"paired bootstrap ({rec.bootstrap_samples} resamples) over the documents both variants scored; "
            f"baseline {baseline.name}; p-values adjusted by {FAMILY_CORRECTION.capitalize()} over {what} "
            f"(significant: adjusted p < {rec.alpha:g}; equivalent: the {1 - 2 * rec.alpha:.0%} "
            f"interval inside +-{rec.quality_equivalence_margin:g}); the smallest detectable drop is for 80% power at "
            "the unadjusted level (the correction makes it larger)")
    return out, note


def _adjusted(judge: Judge, baseline: RunRecord, variant: RunRecord, metric: str) -> "StatsDifference | None":
    """The judge's adjusted paired-bootstrap difference of `variant` against `baseline`, or None (not in a family)."""
    d = judge.difference(baseline, variant, metric).difference
    return d if d is not None and d.correction and d.method.startswith(BOOTSTRAP) else None


def _hardware(r: RunRecord, spec: RooflineSpec) -> Hardware | None:
    """The spec's GPU (or the run's `harness.gpu` tag) from the known table, with the spec's bandwidth / peak overrides."""
    hw = match_gpu(spec.gpu) or match_gpu(gpu_name(r.tags.get(Tag.GPU)))
    if spec.memory_bandwidth_gbs is not None:
        return Hardware(hw.name if hw else "override", spec.memory_bandwidth_gbs, spec.peak_tflops or (hw.peak_tflops if hw else None))
    if hw is not None and spec.peak_tflops is not None:
        return Hardware(hw.name, hw.bandwidth_gbs, spec.peak_tflops)
    return hw


def _first(*pairs: tuple[float | None, str]) -> tuple[float | None, str]:
    """The first known value of (value, where it came from) pairs."""
    return next(((v, src) for v, src in pairs if v), (None, ""))


def _context(r: RunRecord, spec: RooflineSpec) -> tuple[int, str]:
    """Mean tokens in a decoding sequence's context: the spec's when set, else the measured prompt + half the output."""
    prompt, out = r.metric(PROMPT_TOKENS_MEAN), r.metric(COMPLETION_TOKENS_MEAN)
    if "context_tokens" in spec.model_fields_set or not prompt:
        return spec.context_tokens, "spec" if "context_tokens" in spec.model_fields_set else "default"
    return round(prompt + (out or 0.0) / 2), "measured"


def rooflines(runs: list[RunRecord], gates: GatesSpec) -> tuple[list[Roofline], str]:
    """A decode roofline per run; its model facts from the spec's overrides, else the run's logged `knob/*` facts
    (read from the model's files at run time), else the model's name; hardware from the spec or the `harness.gpu` tag."""
    spec = gates.roofline
    out: list[Roofline] = []
    skipped: list[str] = []
    for r in runs:
        hw = _hardware(r, spec)
        model = r.tags.get(Tag.MODEL, "")
        params, p_src = _first((spec.params_b * 1e9 if spec.params_b else None, "spec"),
                               ((r.metric(KNOB_PARAMS_B) or 0.0) * 1e9, "logged"), (params_from_name(model), "name"))
        bits, b_src = _first((spec.bits_per_weight, "spec"), (r.metric(KNOB_BITS_PER_WEIGHT), "logged"),
                             (logged_bits_per_weight(r.tags.get(Tag.ENGINE), model, r.params), "engine"))
        if hw is None or params is None or bits is None:
            missing = [n for n, v in (("hardware bandwidth (gates.roofline.gpu or memory_bandwidth_gbs)", hw),
                                      ("parameter count (knob/params_b from the model's files, or gates.roofline.params_b)", params),
                                      ("bits per weight", bits)) if v is None]
            skipped.append(f"{r.name}: missing {', '.join(missing)}")
            continue
        kv, kv_src = _first((spec.kv_bytes_per_token, "spec"), (r.metric(KNOB_KV_BYTES_PER_TOKEN), "logged"))
        ctx, ctx_src = _context(r, spec)
        running = r.metric("server/requests_running_mean")
        slots = next(filter(None, map(r.metric, slot_knobs(r.tags.get(Tag.ENGINE)))), None)
        batch = max(1, round(running)) if running else int(slots or 1)
        ceiling, bound = decode_ceiling(params, bits, batch, hw.bandwidth_gbs, hw.peak_tflops, kv or 0.0, ctx)
        curve = tuple((b, decode_ceiling(params, bits, b, hw.bandwidth_gbs, hw.peak_tflops, kv or 0.0, ctx)[0])
                      for b in batch_sizes(int(max(slots or 1, batch))))
        inputs = f"params {p_src}, bits {b_src}, KV {kv_src or 'ignored'}, context {ctx_src}"
        out.append(Roofline(r.name, hw.name, batch, params, bits, ceiling, bound, r.metric("perf/output_tokens_per_s"), curve,
                            kv or 0.0, ctx, inputs))
    note = ("decode ceiling = batch / max((params x bits / 8 + batch x context x KV bytes per token) / bandwidth, "
            "2 x params x batch / peak FLOP/s); batch = mean running requests; model facts from the spec, else logged "
            "from the model's files (GGUF / config.json), else its name")
    if out:
        note += "; inputs: " + "; ".join(f"{x.variant}: {x.inputs}" for x in out)
    if skipped:
        note += "; skipped: " + "; ".join(skipped)
    return out, note


def _points(runs: list[RunRecord], x: str, y: str) -> list[Point]:
    return [Point(r.name, r.metric(x), r.metric(y), r.interval(x), r.interval(y)) for r in runs]


def _frontier(runs: list[RunRecord], judge: Judge, x: str, y: str, x_higher: bool) -> Frontier:
    by_name = {r.name: r for r in runs}

    def compare(axis: str, a: str, b: str):
        metric, higher = (x, x_higher) if axis == "x" else (y, True)
        return judge.compare(by_name[a], by_name[b], metric, higher)

    return frontier(_points(runs, x, y), x, y, x_higher=x_higher, compare=compare)


def report_judge(ok: list[RunRecord], columns: list[ColumnSpec], gates: GatesSpec, samples: Samples | None,
                 choice, resolved: dict[str, RunRecord | str] | None = None, margins: dict[str, float] | None = None) -> Judge:
    """The report's one judge, prepared: every pair of finished variants (and each variant with its baseline from
    another sweep) on every metric the report compares, Holm-adjusted per family (harness.report.judge)."""
    rec = gates.recommend
    judge = Judge.of(rec, samples, margins)
    metrics = [(m, h) for m, _, h in columns] + [(m, higher_is_better(m)) for m in headline_perf()]
    metrics += [(rec.objective, higher_is_better(rec.objective)), (rec.throughput_metric, True), (rec.quality_metric, True),
                (rec.latency_metric, False), (FIDELITY_TOP1, True)]
    metrics += [(m, True) for m in SIGNIFICANCE_METRICS]
    pairs = []
    for r in ok:
        own = (resolved or {}).get(r.run_id)
        base = own if isinstance(own, RunRecord) else choice.run
        if base is not None and base.run_id != r.run_id:
            pairs.append((base, r))
    judge.prepare(ok, [(m, h) for m, h in metrics if any(r.metric(m) is not None for r in ok)], pairs, primary=[rec.objective])
    return judge


def build_decision(runs: list[RunRecord], gates: GatesSpec, experiment: str, sweep_id: str | None, smoke: bool,
                   store: "RunStore | None" = None, workdir: Path | None = None,
                   baselines: dict[str, RunRecord | str] | None = None) -> DecisionReport:
    columns = columns_for(runs)
    gates = gates.model_copy(update={"recommend": resolved_axes(gates.recommend, runs, columns)})
    rec_spec = gates.recommend
    level = 1.0 - rec_spec.alpha
    q, t, lat = rec_spec.quality_metric, rec_spec.throughput_metric, rec_spec.latency_metric
    ok = [r for r in runs if not r.failed]
    samples = load_samples(store, runs, workdir or Path("."))
    base_map = baselines if baselines is not None else in_sweep_baselines(gates, runs)
    choice = choose_baseline(runs, gates, base_map)
    margins, design = store.adaptive_design(sweep_id) if store is not None and sweep_id else ({}, [])  # its own margins
    judge = report_judge(ok, columns, gates, samples, choice, baselines, margins)
    axes = [(t, q, True), (lat, q, False)]
    if q != FIDELITY_TOP1:
        axes.append((t, FIDELITY_TOP1, True))  # fidelity to the baseline vs throughput
    # a frontier needs a variant measured on both its axes (none with quality and fidelity off): else none is drawn
    frontiers = [_frontier(ok, judge, x, y, higher) for x, y, higher in axes
                 if any(r.metric(x) is not None and r.metric(y) is not None for r in ok)]
    rec = recommend(runs, gates, baselines, judge)
    table = build_table(runs, frontiers, rec, columns)
    perf = perf_differences(runs, choice, gates, baselines, judge)
    if choice.run is not None:
        diffs, note = compare_quality(samples, store is not None, runs, choice.run, gates, judge)
    else:
        diffs, note = [], ("no finished variant" if not ok else f"{choice.note}; significance not computed")
    intervals = {(r.name, label): iv for r in runs for m, label, _ in columns if (iv := r.interval(m)) is not None}
    tied = {}
    for metric, label, higher in columns:
        best, same, _ = judge.tied_with_best(ok, metric, higher)
        if best is not None and len([r for r in ok if r.metric(metric) is not None]) > 1:
            tied[label] = [r.name for r in same]
    roof, roof_note = rooflines(ok, gates)
    return DecisionReport(experiment, sweep_id, smoke, runs, gates, table, frontiers, rec, diffs, note, gsm8k_flags(ok), roof,
                          roof_note, perf, intervals, tied, level, columns, repeats=few_repeats(runs, columns), design=design)
