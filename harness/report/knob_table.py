"""The decision table a person pastes into a design doc: one row per knob change against the baseline.

Each row says what changed (the variant's `server.*` params that differ from the baseline's, as logged by
harness.tracking.mlflow_logger.variant_params; the `knob/*` metrics where no params were read), the objective's
effect and the latency metric's (ratio variant / baseline, its interval and outcome: better / worse / equivalent
within +-m / inconclusive with what it would take), capacity at the SLO with its interval, output tokens per joule
and the blocks behind the comparison. The outcomes are the report's judge's, Holm-adjusted over the report
(DecisionReport.perf, harness.report.differences): this module formats them, it never decides.
Written as the report's section "Decisions per knob" (render.py) and as `decisions.csv` beside table.csv (publish.py).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from harness.load.capacity_result import CENSORED
from harness.report.columns import LABEL
from harness.report.decision import DecisionReport
from harness.server.gpu_summary import TOKENS_PER_JOULE
from harness.tracking.contract import CAPACITY_RPS, CAPACITY_USERS, KNOB_PREFIX, TTFT_P95_MS, Param, Tag
from harness.tracking.differences import RunDifference
from harness.tracking.run_record import RunRecord

NOT_MEASURED = "not measured"
SECTION = "Decisions per knob"
CSV_FILE = "decisions.csv"
_DERIVED = (Param.ARGV, Param.ENV_NAMES, Param.ENV_INHERITED, Param.SERVER_INFO)
_WHERE = "server.openai."  # where an attached server listens, not how it is configured
ATTACHED = "openai"


def _differ(a: dict[str, str], b: dict[str, str]) -> bool:
    return any(a.get(k, "") != b.get(k, "") for k in set(a) | set(b))
"""`server.*` params the harness derives at run time (argv, environment, the server's own info): not knobs."""
_CENSORED = "perf/capacity_censored"
_SEARCHED = {CENSORED["below"]: ("<", "load.capacity.lo"), CENSORED["above"]: (">=", "load.capacity.hi")}
"""A censored capacity's side -> how it prints and the param holding the searched range's end it lies beyond."""


@dataclass(frozen=True)
class Effect:
    """One metric of a variant against the baseline, as the report's judge decided it."""

    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    outcome: str = ""
    """better | worse | equivalent | inconclusive | no verdict | '' (not compared)."""
    text: str = ""
    """The judge's wording: `better`, `equivalent within +-5%`, `inconclusive: could not detect less than 12%; ...`,
    or why there is none (`no verdict: not enough data: 1 repeat`)."""
    mde: float | None = None
    blocks: int | None = None

    def numbers(self) -> list[object]:
        """decisions.csv's columns: ratio, low, high, outcome, text, mde ('' where none)."""
        return [_num(self.ratio), _num(self.low), _num(self.high), self.outcome, self.text, _num(self.mde)]

    def cell(self) -> str:
        if self.ratio is None:
            return self.text or "not compared"
        interval = "" if self.low is None or self.high is None else f" [{self.low:.3f}, {self.high:.3f}]"
        return f"x{self.ratio:.3f}{interval} {self.text}"


@dataclass(frozen=True)
class KnobRow:
    """One variant: what changed, its effects, capacity and tokens per joule (cell text and numbers), its blocks."""

    variant: str
    changed: str
    objective: Effect
    latency: Effect
    capacity: str
    capacity_value: tuple[float | None, float | None, float | None]
    tokens_per_joule: str
    tokens_per_joule_value: tuple[float | None, float | None, float | None]
    blocks: str


@dataclass(frozen=True)
class KnobTable:
    """The rows (the baseline's first), the metrics they compare and a note saying how the outcomes were reached."""

    baseline: str | None
    objective: str
    latency: str
    rows: list[KnobRow]
    note: str

    def header(self) -> list[str]:
        return ["variant", "what changed", f"{_label(self.objective)} vs baseline", f"{_label(self.latency)} vs baseline",
                "capacity at SLO", "output tokens/J", "blocks"]

    def cells(self) -> list[list[str]]:
        return [[r.variant, r.changed, r.objective.cell(), r.latency.cell(), r.capacity, r.tokens_per_joule, r.blocks]
                for r in self.rows]

    @property
    def shown(self) -> bool:
        """In the report: a table with variants against the baseline, or why there is none (a lone baseline: not shown)."""
        return len(self.rows) != 1

    def markdown(self) -> list[str]:
        """The report's section: heading, the note, the table (or why there is none); [] for a lone baseline."""
        if not self.shown:
            return []
        lines = [f"## {SECTION}", "", self.note, ""]
        if not self.rows:
            return lines
        esc = [[c.replace("|", "\\|") for c in row] for row in self.cells()]
        return lines + ["| " + " | ".join(self.header()) + " |", "|" + "---|" * len(self.header())] + \
            ["| " + " | ".join(row) + " |" for row in esc] + [""]

    def write_csv(self, path: Path) -> Path:
        """decisions.csv: the same rows with the numbers in their own columns (ratio, interval, outcome, MDE)."""
        effect_cols = ["ratio", "low", "high", "outcome", "text", "mde"]
        header = (["variant", "changed", "objective_metric"] + [f"objective_{c}" for c in effect_cols] + ["latency_metric"]
                  + [f"latency_{c}" for c in effect_cols]
                  + ["capacity", "capacity_low", "capacity_high", "capacity_text", "tokens_per_joule", "tokens_per_joule_low",
                     "tokens_per_joule_high", "blocks"])
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            for r in self.rows:
                w.writerow([r.variant, r.changed, self.objective, *r.objective.numbers(), self.latency, *r.latency.numbers(),
                            *map(_num, r.capacity_value), r.capacity, *map(_num, r.tokens_per_joule_value), r.blocks])
        return path


def _num(x: float | None) -> object:
    return "" if x is None or not math.isfinite(x) else x


def _label(metric: str) -> str:
    return LABEL.get(metric, metric)


def knob_diff(baseline: RunRecord, variant: RunRecord) -> str:
    """`kv_cache_dtype: default -> fp8; max_model_len: 8192 -> 4096`: the logged `server.*` params that differ (the
    `server.` and engine-section prefixes dropped), else the `knob/*` metrics that differ; `nothing (the baseline's
    config again)` when none does."""
    def params(r: RunRecord) -> dict[str, str]:
        return {k: v for k, v in r.params.items()
                if k.startswith("server.") and not k.startswith(_DERIVED) and not k.startswith(_WHERE)}

    a, b = params(baseline), params(variant)
    if baseline.tags.get(Tag.ENGINE) == ATTACHED and not _differ(a, b) and variant.tags.get(Tag.NOTE):
        return f"{variant.tags[Tag.NOTE]} (attached: as its description says)"  # its flags are not known to the harness
    if a or b:
        changed = {k: (a.get(k, ""), b.get(k, "")) for k in sorted(set(a) | set(b)) if a.get(k, "") != b.get(k, "")}
    else:
        ka = {k: v for k, v in baseline.metrics.items() if k.startswith(KNOB_PREFIX)}
        kb = {k: v for k, v in variant.metrics.items() if k.startswith(KNOB_PREFIX)}
        changed = {k: (f"{ka[k]:g}" if k in ka else "", f"{kb[k]:g}" if k in kb else "") for k in sorted(set(ka) | set(kb))
                   if ka.get(k) != kb.get(k)}
    if not changed:
        return "nothing (the baseline's config again)"
    return "; ".join(f"{_short(k)}: {old or 'default'} -> {new or 'default'}" for k, (old, new) in changed.items())


def _short(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "server":
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in ("vllm", "llamacpp", "openai"):
        parts = parts[1:]
    return ".".join(parts) or key


def effect(d: RunDifference | None) -> Effect:
    """The judge's outcome of one comparison, as a row's cell (never re-decided here)."""
    if d is None:
        return Effect(text="not compared")
    x = d.difference
    if not d.decided or x is None:
        return Effect(outcome=d.verdict, text=f"{d.verdict}: {d.reason}" if d.reason else d.verdict)
    finite = not (math.isnan(x.low) or math.isnan(x.high))
    return Effect(x.ratio, x.low if finite else None, x.high if finite else None, x.verdict, x.outcome_text(),
                  x.mde if math.isfinite(x.mde) else None, x.n)


def _measured(r: RunRecord, metric: str, unit: str) -> tuple[str, tuple[float | None, float | None, float | None]]:
    v = r.metric(metric)
    if v is None:
        return NOT_MEASURED, (None, None, None)
    iv = r.interval(metric)
    text = f"{v:.3g} {unit}" + (f" [{iv[0]:.3g}, {iv[1]:.3g}]" if iv else "")
    return text, (v, *(iv or (None, None)))


def capacity(r: RunRecord) -> tuple[str, tuple[float | None, float | None, float | None]]:
    """Capacity at the SLO with its interval; `< lo` / `>= hi` (the logged search range) when censored (no value,
    never 0); else not measured."""
    for metric, unit in ((CAPACITY_RPS, "req/s"), (CAPACITY_USERS, "users")):
        if r.metric(metric) is not None:
            return _measured(r, metric, unit)
    side = r.metric(_CENSORED)
    if side:  # below or above (a median over repeats keeps the sign)
        sign, param = _SEARCHED[CENSORED["below"] if side < 0 else CENSORED["above"]]
        return f"{sign} {r.params.get(param, 'the searched range')} (censored)", (None, None, None)
    return NOT_MEASURED, (None, None, None)


def _level(run: RunRecord, metric: str) -> Effect:
    """The baseline's own cell: its value with its interval (`baseline: 1234 [1200, 1270]`)."""
    v, iv = run.metric(metric), run.interval(metric)
    if v is None:
        return Effect(text="baseline")
    return Effect(text=f"baseline: {v:.4g}" + (f" [{iv[0]:.4g}, {iv[1]:.4g}]" if iv else ""))


def _latency_metric(r: DecisionReport) -> str:
    """The first SLO metric of the gates the report compared, else TTFT p95."""
    compared = set(r.perf.metrics) if r.perf is not None else set()
    return next((m for m in r.gates.slo if m in compared), TTFT_P95_MS)


def knob_table(r: DecisionReport) -> KnobTable:
    """One row per finished variant against the baseline (the baseline's own row first), from the report's outcomes."""
    objective, latency = r.gates.recommend.objective, _latency_metric(r)
    base = r.perf.baseline.run if r.perf is not None else None
    if base is None:
        why = r.perf.baseline.note if r.perf is not None else "no baseline"
        return KnobTable(None, objective, latency, [], f"no table: {why} (set gates.baseline.variant)")
    rows = []
    for run in [base] + [x for x in r.runs if not x.failed and x.run_id != base.run_id]:
        own = run.run_id == base.run_id
        obj = _level(run, objective) if own else effect(r.perf.of(run.name, objective))
        lat = _level(run, latency) if own else effect(r.perf.of(run.name, latency))
        cap_text, cap = capacity(run)
        tpj_text, tpj = _measured(run, TOKENS_PER_JOULE, "tok/J")
        n = obj.blocks
        blocks = f"{n} paired" if n else str(run.repeat_count)
        rows.append(KnobRow(run.name, "- (baseline)" if own else knob_diff(base, run), obj, lat, cap_text, cap, tpj_text, tpj,
                            blocks))
    note = (f"each variant against the baseline {base.name}: ratio variant / baseline with its {r.level:.0%} interval and "
            f"the report's outcome (the judge's, {r.perf.correction or 'unadjusted'}; equivalent: the "  # type: ignore[union-attr]
            f"{1 - 2 * (1 - r.level):.0%} interval inside +-{r.perf.equivalence:.0%}) on the objective "  # type: ignore[union-attr]
            f"{objective} and on {latency}; capacity at the SLO and output tokens per joule with their intervals "
            f"where measured; blocks: those the objective's comparison paired (else the variant's repeats)")
    return KnobTable(base.name, objective, latency, rows, note)
