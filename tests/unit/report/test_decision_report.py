"""Decision report from hand-made runs (no MLflow): table, flags, roofline, Markdown/HTML, PNG plots; knobs as metrics."""

from __future__ import annotations

from harness.report.decision import build_decision
from harness.report.plots import frontier_plot, latency_vs_load_plot
from harness.report.render import markdown, to_html
from harness.spec import build_spec, resolve_variants
from harness.spec.gates import GatesSpec
from harness.tracking.knobs import knob_metrics, quantization, variant_tags
from harness.tracking.reader import RunRecord


def run(name: str, q: float, strict: float, t: float, lat: float, status: str = "ok", **extra: float) -> RunRecord:
    m = {"quality/gsm8k/exact_match_flexible": q, "quality/gsm8k/exact_match_strict": strict, "perf/output_tokens_per_s": t,
         "perf/ttft_p95_ms": lat, "perf/ttft_p50_ms": lat / 2, "perf/requests_per_s": t / 100, "perf/error_rate": 0.0, **extra}
    return RunRecord(f"id-{name}", name, "0", "s", status, m, {}, {"harness.model": "hf://org/Llama-3.1-8B-Instruct", "harness.gpu": "1x NVIDIA H100 80GB HBM3", "harness.engine": "vllm"})


def test_report_table_flags_roofline_and_renderings(tmp_path):
    runs = [run("bf16", 0.80, 0.78, 1000.0, 200.0, **{"knob/max_num_seqs": 8.0, "server/requests_running_mean": 8.0}),
            run("awq", 0.70, 0.20, 1400.0, 150.0, **{"knob/max_num_seqs": 8.0, "knob/bits_per_weight": 4.25}),
            run("dead", 0.0, 0.0, 0.0, 0.0, status="failed")]
    gates = GatesSpec.model_validate({"slo": {"perf/ttft_p95_ms": {"max": 500}}, "quality_floor": {"quality/gsm8k/exact_match_flexible": {"min": 0.75}},
                                      "baseline": {"variant": "bf16"}})
    r = build_decision(runs, gates, "exp", "sweep1", smoke=False)
    assert r.recommendation.chosen == "bf16"
    assert r.table.loc["bf16", "recommended"] == "yes" and r.table.loc["awq", "max_num_seqs"] == 8.0
    assert r.table.loc["bf16", "pareto output_tokens_per_s"] == "frontier" and r.table.loc["dead", "status"] == "failed"
    assert len(r.flags) == 1 and r.flags[0].startswith("awq: GSM8K flexible-extract 0.700 vs strict-match 0.200") and "prompt-format" in r.flags[0]
    roof = {x.variant: x for x in r.rooflines}
    assert roof["bf16"].hardware == "H100-SXM" and roof["bf16"].batch == 8 and roof["bf16"].bits_per_weight == 16.0
    assert roof["bf16"].ceiling_tok_s == 8 * 3350e9 / (8e9 * 2) and 0 < roof["bf16"].fraction < 1
    assert roof["awq"].bits_per_weight == 4.25
    md = markdown(r, {"frontier": "f.png"})
    assert "recommend **bf16**" in md and "| awq |" in md and "![frontier](f.png)" in md and "prompt-format" in md
    assert "awq: not eligible" in md and "dead: not eligible — run failed" in md
    page = to_html(r, {"frontier": "f.png"})
    assert "<b>bf16</b>" in page and '<img src="f.png"' in page and "<table" in page
    png = frontier_plot(r.frontiers[0], tmp_path / "f.png", "bf16")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert latency_vs_load_plot(runs, tmp_path / "l.png").stat().st_size > 1000


def test_report_without_gates_or_quality():
    runs = [RunRecord("a", "a", "0", None, "ok", {"perf/output_tokens_per_s": 5.0}, {}, {})]
    r = build_decision(runs, GatesSpec(), "exp", None, smoke=True)
    assert r.recommendation.chosen == "a" and r.frontiers == []  # no quality measured: no frontier drawn
    assert "skipped: a: missing hardware bandwidth" in r.roofline_note
    assert "no SLOs or quality floors configured" in markdown(r, {})


def test_knobs_as_metrics_from_the_spec():
    spec = build_spec({"name": "x", "variants": [{"name": "p4", "server": {"llamacpp": {"parallel": 4}}},
                                                 {"name": "v", "server": {"kind": "vllm", "model": "hf://org/Llama-3.1-8B-Instruct",
                                                                          "vllm": {"max_num_seqs": 64, "quantization": "fp8", "enforce_eager": True}}}]}, {}, [])
    p4, v = resolve_variants(spec)
    k = knob_metrics(p4)
    assert k["knob/parallel"] == 4.0 and k["knob/bits_per_weight"] == 5.0 and k["knob/params_b"] == 0.135 and k["knob/cont_batching"] == 1.0
    assert quantization(p4) == "Q4_1"
    k = knob_metrics(v)
    assert k["knob/max_num_seqs"] == 64.0 and k["knob/bits_per_weight"] == 8.0 and k["knob/enforce_eager"] == 1.0 and k["knob/params_b"] == 8.0
    assert "knob/max_model_len" not in k and quantization(v) == "fp8"


def test_an_attached_endpoint_is_not_described_by_the_default_model():
    """kind openai keeps the spec's default `server.model` (the embedded Q4_1 GGUF): its 5 bits must not describe a
    bf16 vLLM endpoint (the H200 proof run logged 5.0 and a roofline 3x too high). The served name still says 135M."""
    attached = {"kind": "openai", "served_model_name": "smollm2-135m-instruct", "openai": {"base_url": "http://127.0.0.1:8001"}}
    named = {**attached, "model": "hf://org/Llama-3.1-8B-Instruct-FP8"}
    spec = build_spec({"name": "x", "variants": [{"name": "a", "server": attached}, {"name": "b", "server": named}]}, {}, [])
    a, b = resolve_variants(spec)
    ka = knob_metrics(a)
    assert "knob/bits_per_weight" not in ka and ka["knob/params_b"] == 0.135 and quantization(a) == "unknown"
    kb = knob_metrics(b)
    assert kb["knob/bits_per_weight"] == 8.0 and kb["knob/params_b"] == 8.0
    # the run's model tag, which the report's roofline falls back on, names the served model too (the second H200
    # run still drew a 5-bit roofline from a tag naming the Q4_1 GGUF)
    ta, tb = variant_tags(a), variant_tags(b)
    assert ta["harness.model"] == "smollm2-135m-instruct" and tb["harness.model"] == "hf://org/Llama-3.1-8B-Instruct-FP8"
    logged = RunRecord("id-a", "a", "0", "s", "ok", {**ka, "perf/output_tokens_per_s": 5000.0}, {"server.kind": "openai"},
                       {**ta, "harness.engine": "openai", "harness.gpu": "1x NVIDIA H200"})
    r = build_decision([logged], GatesSpec(), "exp", "sweep1", smoke=False)
    assert r.rooflines == [] and "a: missing bits per weight" in r.roofline_note
