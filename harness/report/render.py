"""Markdown and HTML renderings of a decision report."""

from __future__ import annotations

import html

from harness.report.cells import Formatted, format_table
from harness.report.columns import noise_floor_line, star_legend
from harness.report.decision import DESIGN_NOTE, DecisionReport
from harness.report.knob_table import SECTION, KnobTable, knob_table


def _cells(r: DecisionReport) -> Formatted:
    """The main table by column type: values with their interval, * on every value tied with the best."""
    return format_table(r.table, [label for _, label, _ in r.columns], r.intervals, r.tied, r.repeats)


def _legend(r: DecisionReport, cells: Formatted) -> str:
    return star_legend(r.level, r.gates.recommend.margin, {x.ci_method for x in r.runs}, stars=cells.starred, intervals=cells.intervals,
                       repeats=cells.repeats)


def text_table(r: DecisionReport) -> str:
    """The main table as aligned text with its legend (the CLI's `compare --runs`)."""
    cells = _cells(r)
    legend = _legend(r, cells)
    return cells.text() + (f"\n{legend}" if legend else "")


def _perf_table(r: DecisionReport) -> tuple[list[str], list[list[str]]]:
    if r.perf is None or not r.perf.items:
        return [], []
    return ["variant"] + r.perf.header(), [[v] + cells for v, cells in r.perf.rows()]


def _sections(r: DecisionReport) -> list[tuple[str, list[str]]]:
    """(heading, lines of plain text with **bold**) shared by both renderings."""
    out: list[tuple[str, list[str]]] = []
    rec = [r.recommendation.sentence()]
    for v in r.recommendation.verdicts:
        if not v.eligible:
            rec.append(f"{v.name}: not eligible — " + "; ".join(v.reasons))
    if r.gates.empty:
        rec.append("no SLOs or quality floors configured (spec `gates:`): the recommendation is simply the best objective")
    out.append(("Recommendation", rec))
    fr = []
    for f in r.frontiers:
        dom = [f"{n} (dominated by {', '.join(b)})" for n, b in f.dominated_by.items()]
        fr.append(f"{f.y_metric} vs {f.x_metric}: frontier {', '.join(f.on) or '-'}" + (f"; dominated: {'; '.join(dom)}" if dom else "")
                  + (f"; missing metrics: {', '.join(f.missing)}" if f.missing else ""))
        if f.methods:
            fr.append(f.note())
    out.append(("Pareto frontiers", fr or ["none drawn: no variant was measured on both axes of a frontier (a quality or "
                                            "fidelity metric against throughput or latency)"]))
    if r.design:
        out.append(("Adaptive repeats", [f"{r.design[0]}: {DESIGN_NOTE}", *r.design[1:]]))
    if r.perf is not None:
        perf = [r.perf.note()] + ([] if r.perf.items else ["-"]) + r.perf.details()
        out.append(("Performance differences (verdicts)", perf))
    sig = [d.sentence() for d in r.differences] or ([] if r.significance_note else ["-"])
    out.append(("Quality differences (significance)", [r.significance_note] + sig))
    floor = noise_floor_line(r.runs)
    if floor:
        out.append(("Fidelity to the baseline", [floor]))
    if r.flags:
        out.append(("Flags", r.flags))
    roof = [f"{x.variant}: batch {x.batch} on {x.hardware}, {x.params / 1e9:.3g}B params x {x.bits_per_weight:g} bits: ceiling "
            f"{x.ceiling_tok_s:.0f} tok/s ({x.bound}-bound); achieved "
            + (f"{x.achieved_tok_s:.1f} tok/s = {100 * x.fraction:.1f}%" if x.fraction is not None else "n/a")
            + ("; ceiling by batch size: " + ", ".join(f"{b}: {c:.0f}" for b, c in x.by_batch) if x.by_batch else "")
            for x in r.rooflines]
    out.append(("Roofline (decode)", roof + [r.roofline_note]))
    return out


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(c) + " |" for c in rows]


def markdown(r: DecisionReport, images: dict[str, str], knobs: KnobTable | None = None) -> str:
    """The report as Markdown (`knobs`: the knob table when the caller built it already)."""
    title = f"# Decision report: {r.experiment}" + (f" (sweep {r.sweep_id})" if r.sweep_id else "")
    lines = [title, ""]
    if r.smoke:
        lines += ["> **SMOKE RUN**: small limits; not comparable with full runs.", ""]
    cells = _cells(r)
    lines += _md_table(["variant"] + cells.header, [[n] + c for n, c in cells.rows])
    legend = _legend(r, cells)
    lines += ["", legend, ""] if legend else [""]
    lines += (knobs if knobs is not None else knob_table(r)).markdown()
    header, rows = _perf_table(r)
    for heading, items in _sections(r):
        lines += [f"## {heading}", ""] + [f"- {i}" for i in items if i] + [""]
        if heading.startswith("Performance differences") and rows:
            lines += _md_table(header, rows) + [""]
    if images:
        lines += ["## Plots", ""] + [f"![{k}]({v})" for k, v in images.items()] + [""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def to_html(r: DecisionReport, images: dict[str, str], knobs: KnobTable | None = None) -> str:
    """The report as HTML (`knobs` as for `markdown`)."""
    body = [f"<h1>Decision report: {html.escape(r.experiment)}</h1>"]
    if r.sweep_id:
        body.append(f"<p>MLflow sweep run <code>{html.escape(r.sweep_id)}</code></p>")
    if r.smoke:
        body.append('<p class="warn"><b>SMOKE RUN</b>: small limits; not comparable with full runs.</p>')
    cells = _cells(r)
    body.append(_html_table([""] + cells.header, [[n] + c for n, c in cells.rows]))
    legend = _legend(r, cells)
    if legend:
        body.append(f"<p>{html.escape(legend)}</p>")
    knobs = knobs if knobs is not None else knob_table(r)
    if knobs.shown:
        body.append(f"<h2>{html.escape(SECTION)}</h2><p>{html.escape(knobs.note)}</p>"
                    + (_html_table(knobs.header(), knobs.cells()) if knobs.rows else ""))
    header, rows = _perf_table(r)
    for heading, items in _sections(r):
        body.append(f"<h2>{html.escape(heading)}</h2><ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items if i) + "</ul>")
        if heading.startswith("Performance differences") and rows:
            body.append(_html_table(header, rows))
    if images:
        body.append("<h2>Plots</h2>" + "".join(f'<img src="{html.escape(v)}" alt="{html.escape(k)}">' for k, v in images.items()))
    style = ("body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} td,th{padding:4px 8px;border-bottom:1px solid #ddd;"
             "text-align:right} .warn{color:#a00} img{max-width:48%;margin:4px}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(r.experiment)}</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"
