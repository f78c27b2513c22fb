"""A pass against the reference: identical outputs, first divergence, top-1 agreement, KL, with bootstrap CIs.

Two methods (docs/metrics.md, "Fidelity", has the full definitions):
- teacher_forcing: the variant scored the reference's own tokens (vLLM: prompt_logprobs;
  llama-server: a grammar admitting only the reference's text), so every reference position
  compares two next-token distributions given the same prefix;
- first_divergence: both generated freely; positions up to and including the first differing
  token share their prefix, so only those are compared (later ones condition on different text).

KL(baseline || variant) per position is computed on the partition {each token both top-k lists
contain} + {everything else}: both masses are known exactly on it, so the estimate is a lower
bound of the full-vocabulary KL (grouping outcomes never raises KL); what it misses lies in the
baseline mass outside the shared tokens, reported as `uncovered_mass`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import FidelityError
from harness.fidelity.records import Entry, Generation, Reference

EPS = 1e-10
"""Floor on a variant probability in a log ratio (a shared token the variant gives ~0)."""


@dataclass(frozen=True)
class Estimate:
    """A statistic over the prompts with its bootstrap percentile interval."""

    value: float
    low: float
    high: float

    def overlaps(self, other: "Estimate") -> bool:
        return self.low <= other.high and other.low <= self.high


@dataclass(frozen=True)
class PromptFidelity:
    """One prompt: where the variant first differs and how close its distributions were."""

    prompt_id: str
    identical: bool
    first_divergence: int | None
    """Index of the first differing token (a length difference counts at the shorter length); None when identical."""
    reference_tokens: int
    tokens: int
    compared: int
    """Positions counted for top-1 agreement."""
    agreed: int
    kl_sum: float
    kl_positions: int
    uncovered_sum: float
    prompt: str = ""
    reference_text: str = ""
    text: str = ""

    @property
    def top1_agreement(self) -> float:
        return self.agreed / self.compared if self.compared else math.nan

    @property
    def kl(self) -> float:
        return self.kl_sum / self.kl_positions if self.kl_positions else math.nan

    @property
    def divergence_or_length(self) -> int:
        """The first divergence, or the reference length when identical (right-censored)."""
        return self.reference_tokens if self.first_divergence is None else self.first_divergence


@dataclass(frozen=True)
class Comparison:
    """A pass against the reference, over the prompts both answered."""

    method: str
    """teacher_forcing or first_divergence (see the module docstring)."""
    prompts: int
    positions: int
    identical_rate: Estimate
    first_divergence: Estimate
    """Mean index of the first differing token, identical outputs counted at their length."""
    top1_agreement: Estimate
    """Pooled over compared positions: agreements / positions."""
    kl: Estimate
    """Mean KL(baseline || variant) per compared position, in nats (a lower bound: see the module docstring)."""
    uncovered_mass: float
    """Mean baseline probability outside the tokens both top-k lists share: the room the KL bound leaves."""
    coverage: float
    """Compared positions / reference positions: 1.0 when teacher forcing scored every reference token."""
    confidence: float
    rows: tuple[PromptFidelity, ...]
    missing: int = 0
    """Reference prompts without an answer in this pass."""

    def metrics(self, prefix: str = "fidelity/") -> dict[str, float]:
        out = {f"{prefix}prompts": float(self.prompts), f"{prefix}positions": float(self.positions),
               f"{prefix}uncovered_mass": self.uncovered_mass, f"{prefix}coverage": self.coverage,
               f"{prefix}teacher_forced": 1.0 if self.method == "teacher_forcing" else 0.0}
        for name, est in (("identical_rate", self.identical_rate), ("first_divergence", self.first_divergence),
                          ("top1_agreement", self.top1_agreement), ("kl", self.kl)):
            out.update({f"{prefix}{name}": est.value, f"{prefix}{name}_ci_low": est.low, f"{prefix}{name}_ci_high": est.high})
        return {k: v for k, v in out.items() if not math.isnan(v)}

    def table(self) -> dict[str, list[Any]]:
        """Per-prompt columns (for an MLflow table): divergence, agreement, KL, both replies."""
        # prompt and reply first: MLflow's evaluation view groups by a table's first column and compares its second
        cols = ("prompt", "text", "prompt_id", "identical", "first_divergence", "top1_agreement", "kl", "reference_text")
        return {c: [getattr(r, c) for r in self.rows] for c in cols}

    def line(self) -> str:
        def ci(e: Estimate, fmt: str) -> str:
            return f"{e.value:{fmt}} [{e.low:{fmt}}, {e.high:{fmt}}]"

        return (f"{self.prompts} prompts ({self.method}): identical {ci(self.identical_rate, '.2f')}, top-1 agreement "
                f"{ci(self.top1_agreement, '.3f')}, KL {ci(self.kl, '.4f')} nats, first divergence {self.first_divergence.value:.1f}")


def kl_top(p: Sequence[Entry], q: Sequence[Entry]) -> tuple[float, float]:
    """(KL(p || q) on the shared-tokens-plus-rest partition, p's mass outside the shared tokens)."""
    by_id = all(e[1] is not None for e in (*p, *q))
    pp, qq = _probs(p, by_id), _probs(q, by_id)
    kl = p_in = q_in = 0.0
    for key in pp.keys() & qq.keys():
        pk, qk = pp[key], qq[key]
        p_in += pk
        q_in += qk
        if pk > 0:
            kl += pk * math.log(pk / max(qk, EPS))
    p_rest, q_rest = max(0.0, 1.0 - p_in), max(EPS, 1.0 - q_in)
    if p_rest > 0:
        kl += p_rest * math.log(p_rest / q_rest)
    return max(kl, 0.0), p_rest


def _probs(entries: Iterable[Entry], by_id: bool) -> dict[Any, float]:
    """Probabilities by id (or by text, merging texts several ids decode to: a coarser partition, still a bound)."""
    out: dict[Any, float] = {}
    for text, tid, lp in entries:
        key = tid if by_id else text
        out[key] = out.get(key, 0.0) + math.exp(lp)
    return out


def _top1(entries: Sequence[Entry]) -> Entry | None:
    return max(entries, key=lambda e: e[2]) if entries else None


def _same_token(a: Generation, b: Generation, j: int) -> bool:
    if a.token_ids is not None and b.token_ids is not None:
        return a.token_ids[j] == b.token_ids[j]
    return a.tokens[j] == b.tokens[j]


def compare_prompt(ref: Generation, cand: Generation, forced: bool) -> PromptFidelity:
    """One prompt; `forced` uses `cand.forced` (teacher forcing) for agreement and KL."""
    common = min(len(ref.tokens), len(cand.tokens))
    first = next((j for j in range(common) if not _same_token(ref, cand, j)), None)
    if first is None and len(ref.tokens) != len(cand.tokens):
        first = common
    agreed = compared = kl_positions = 0
    kl_sum = uncovered = 0.0
    if forced:
        assert cand.forced is not None
        for j, dist in enumerate(cand.forced[: len(ref.tokens)]):
            best = _top1(dist)
            by_id = ref.token_ids is not None and best is not None and best[1] is not None
            agreed += int(best is not None and (best[1] == ref.token_ids[j] if by_id else best[0] == ref.tokens[j]))
            compared += 1
            kl, rest = kl_top(ref.top[j], dist)
            kl_sum, uncovered, kl_positions = kl_sum + kl, uncovered + rest, kl_positions + 1
    else:
        last = common - 1 if first is None else min(first, common - 1)
        for j in range(last + 1):
            agreed += int(_same_token(ref, cand, j))
            compared += 1
            kl, rest = kl_top(ref.top[j], cand.top[j])
            kl_sum, uncovered, kl_positions = kl_sum + kl, uncovered + rest, kl_positions + 1
        if first is not None and first == common:
            compared += 1  # one stopped where the other went on: a disagreement with no distribution to compare
    return PromptFidelity(ref.prompt_id, first is None, first, len(ref.tokens), len(cand.tokens), compared, agreed,
                          kl_sum, kl_positions, uncovered, ref.prompt, ref.text, cand.text)


def compare(reference: Reference | Mapping[str, Generation], candidate: Iterable[Generation], *,
            bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0) -> Comparison:
    """`candidate` against `reference` over the prompts both have; teacher-forced when every candidate was."""
    ref = reference.generations if isinstance(reference, Reference) else reference
    pairs = []
    for cand in candidate:
        base = ref.get(cand.prompt_id)
        if base is None:
            continue
        if base.prompt != cand.prompt:
            raise FidelityError(f"fidelity: prompt {cand.prompt_id} differs from the reference's; compare passes of one prompt set")
        pairs.append((base, cand))
    if not pairs:
        raise FidelityError("fidelity: no prompt answered in both the reference and this pass")
    forced = all(c.forced is not None for _, c in pairs)
    rows = tuple(compare_prompt(b, c, forced) for b, c in pairs)
    cis = _bootstrap(rows, bootstrap, confidence, seed)
    positions = sum(r.kl_positions for r in rows)
    return Comparison(
        method="teacher_forcing" if forced else "first_divergence", prompts=len(rows), positions=positions,
        identical_rate=cis["identical_rate"], first_divergence=cis["first_divergence"],
        top1_agreement=cis["top1_agreement"], kl=cis["kl"],
        uncovered_mass=sum(r.uncovered_sum for r in rows) / positions if positions else math.nan,
        coverage=positions / max(1, sum(r.reference_tokens for r in rows)),
        confidence=confidence, rows=rows, missing=len(ref) - len(rows),
    )


def _bootstrap(rows: Sequence[PromptFidelity], resamples: int, confidence: float, seed: int) -> dict[str, Estimate]:
    """Point values and percentile intervals, resampling prompts (ratios pooled within each resample)."""
    import numpy as np

    identical = np.array([r.identical for r in rows], dtype=float)
    divergence = np.array([r.divergence_or_length for r in rows], dtype=float)
    agreed = np.array([r.agreed for r in rows], dtype=float)
    compared = np.array([r.compared for r in rows], dtype=float)
    kl_sum = np.array([r.kl_sum for r in rows], dtype=float)
    kl_pos = np.array([r.kl_positions for r in rows], dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(rows), size=(resamples, len(rows)))

    def ratio(num: Any, den: Any) -> Any:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    stats = {
        "identical_rate": (identical.mean(), identical[idx].mean(axis=1)),
        "first_divergence": (divergence.mean(), divergence[idx].mean(axis=1)),
        "top1_agreement": (ratio(agreed.sum(), compared.sum()), ratio(agreed[idx].sum(axis=1), compared[idx].sum(axis=1))),
        "kl": (ratio(kl_sum.sum(), kl_pos.sum()), ratio(kl_sum[idx].sum(axis=1), kl_pos[idx].sum(axis=1))),
    }
    tail = (1 - confidence) / 2 * 100
    out = {}
    for name, (point, samples) in stats.items():
        point = float(point)
        if math.isnan(point) or np.isnan(samples).all():
            out[name] = Estimate(point, math.nan, math.nan)
            continue
        low, high = np.nanpercentile(samples, [tail, 100 - tail])
        out[name] = Estimate(point, float(low), float(high))
    return out
