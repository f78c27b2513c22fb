"""Markdown and HTML renderings of a decision report."""

from __future__ import annotations

import html
import math

from harness.report.decision import DecisionReport


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def _sections(r: DecisionReport) -> list[tuple[str, list[str]]]:
    """(heading, lines of plain text with **bold**) shared by both renderings."""
    out: list[tuple[str, list[str]]] = []
    rec = [r.recommendation.sentence()]
    for v in r.recommendation.verdicts:
        if not v.eligible:
            rec.append(f"{v.name}: not eligible — " + "; ".join(v.reasons))
    if r.gates.empty:
        rec.append("no SLOs or quality floors configured (spec `gates:`): the recommendation is simply the highest objective")
    out.append(("Recommendation", rec))
    fr = []
    for f in r.frontiers:
        dom = [f"{n} (dominated by {', '.join(b)})" for n, b in f.dominated_by.items()]
        fr.append(f"{f.y_metric} vs {f.x_metric}: frontier {', '.join(f.on) or '-'}" + (f"; dominated: {'; '.join(dom)}" if dom else "")
                  + (f"; missing metrics: {', '.join(f.missing)}" if f.missing else ""))
    out.append(("Pareto frontiers", fr))
    sig = [d.sentence() for d in r.differences] or ["-"]
    out.append(("Quality differences (significance)", [r.significance_note] + sig))
    if r.flags:
        out.append(("Flags", r.flags))
    roof = [f"{x.variant}: batch {x.batch} on {x.hardware}, {x.params / 1e9:.3g}B params x {x.bits_per_weight:g} bits: ceiling "
            f"{x.ceiling_tok_s:.0f} tok/s ({x.bound}-bound); achieved "
            + (f"{x.achieved_tok_s:.1f} tok/s = {100 * x.fraction:.1f}%" if x.fraction is not None else "n/a")
            + ("; ceiling by batch size: " + ", ".join(f"{b}: {c:.0f}" for b, c in x.by_batch) if x.by_batch else "")
            for x in r.rooflines]
    out.append(("Roofline (decode)", roof + [r.roofline_note]))
    return out


def markdown(r: DecisionReport, images: dict[str, str]) -> str:
    title = f"# Decision report: {r.experiment}" + (f" (sweep {r.sweep_id})" if r.sweep_id else "")
    lines = [title, ""]
    if r.smoke:
        lines += ["> **SMOKE RUN**: small limits; not comparable with full runs.", ""]
    cols = ["variant"] + list(r.table.columns)
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, row in r.table.iterrows():
        lines.append("| " + " | ".join([str(name)] + [_fmt(v) for v in row.tolist()]) + " |")
    lines.append("")
    for heading, items in _sections(r):
        lines += [f"## {heading}", ""] + [f"- {i}" for i in items if i] + [""]
    if images:
        lines += ["## Plots", ""] + [f"![{k}]({v})" for k, v in images.items()] + [""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def to_html(r: DecisionReport, images: dict[str, str]) -> str:
    shown = r.table.copy().astype(object).map(_fmt)
    body = [f"<h1>Decision report: {html.escape(r.experiment)}</h1>"]
    if r.sweep_id:
        body.append(f"<p>MLflow sweep run <code>{html.escape(r.sweep_id)}</code></p>")
    if r.smoke:
        body.append('<p class="warn"><b>SMOKE RUN</b>: small limits; not comparable with full runs.</p>')
    body.append(shown.to_html(classes="table", border=0, escape=True))
    for heading, items in _sections(r):
        body.append(f"<h2>{html.escape(heading)}</h2><ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items if i) + "</ul>")
    if images:
        body.append("<h2>Plots</h2>" + "".join(f'<img src="{html.escape(v)}" alt="{html.escape(k)}">' for k, v in images.items()))
    style = ("body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} td,th{padding:4px 8px;border-bottom:1px solid #ddd;"
             "text-align:right} .warn{color:#a00} img{max-width:48%;margin:4px}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(r.experiment)}</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"
