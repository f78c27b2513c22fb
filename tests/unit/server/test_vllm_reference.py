"""benchmarks/vllm_reference.py: the bench command it builds, reading a real `vllm bench serve` result, the ratios."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from harness.server.endpoint import Endpoint

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def ref():
    spec = importlib.util.spec_from_file_location("vllm_reference", REPO / "benchmarks" / "vllm_reference.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["vllm_reference"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _fake_bench(tmp_path: Path, result: Path) -> str:
    """A `vllm` stand-in that records its argv and saves a captured result where --result-dir/--result-filename say."""
    exe = tmp_path / "fake_bench.py"
    exe.write_text(
        "import json, shutil, sys\n"
        "a = sys.argv[1:]\n"
        f"open({str(tmp_path / 'argv.json')!r}, 'w').write(json.dumps(a))\n"
        f"shutil.copy({str(result)!r}, a[a.index('--result-dir') + 1] + '/' + a[a.index('--result-filename') + 1])\n"
    )
    return f"{sys.executable} {exe}"


def test_bench_run_reads_the_real_result_format(ref, tmp_path, vllm_fixtures):
    args = argparse.Namespace(vllm=_fake_bench(tmp_path, vllm_fixtures / "bench_bf16_rate16.json"), tokenizer="/m", input_len=256,
                              output_len=128, num_prompts=400)
    ep = Endpoint(base_url="http://127.0.0.1:9", model="smollm2-135m-instruct", metrics_url=None)
    run = ref.run_bench(args, ep, tmp_path, "r16_a", 100, 16.0, None)
    # the capture's README: bf16 at 16 req/s, TTFT p50/p99 30.6/117.8 ms, TPOT p50 3.39 ms, 2007 output tok/s, 286 prompt tokens
    assert run.numbers["ttft_p50_ms"] == pytest.approx(30.6, abs=0.05) and run.numbers["ttft_p99_ms"] == pytest.approx(117.8, abs=0.05)
    assert run.numbers["tpot_p50_ms"] == pytest.approx(3.39, abs=0.005) and run.numbers["output_tokens_per_s"] == pytest.approx(2007, abs=1)
    assert run.numbers["prompt_tokens_mean"] == 286 and run.numbers["completed"] == 400
    argv = json.loads((tmp_path / "argv.json").read_text())
    pairs = dict(zip(argv, argv[1:]))
    assert pairs["--request-rate"] == "16" and pairs["--random-input-len"] == "256" and pairs["--random-output-len"] == "128"
    assert pairs["--seed"] == "100" and "--ignore-eos" in argv and pairs["--temperature"] == "0"
    assert "--max-concurrency" not in argv
    ref.run_bench(args, ep, tmp_path, "c8_a", 1, None, 8)
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[argv.index("--request-rate") + 1] == "inf" and argv[argv.index("--max-concurrency") + 1] == "8"


def test_ratios_and_table(ref):
    keys = [k for k, *_ in ref.METRICS + ref.EXTRA] + ["prompt_tokens_mean", "completed", "failed", "duration_s"]
    a = ref.Run("bench", 1, {k: 100.0 for k in keys})
    b = ref.Run("bench", 2, {k: 110.0 for k in keys})
    h = ref.Run("harness", 3, {k: 103.0 for k in keys})
    ratios = {k: ref.ratio(h.numbers[k], (a.numbers[k] + b.numbers[k]) / 2) for k, *_ in ref.METRICS}
    assert ratios["ttft_p50_ms"] == pytest.approx(103 / 105)
    point = ref.Point("rate 16", a, h, b, ratios, {k: 1.1 for k, *_ in ref.METRICS})
    text = ref.render_point(point)
    assert "| TTFT p50 ms | 100.00 | 103.00 | 110.00 | 0.981 | 1.100 | yes |" in text
    assert ref.ratio(1.0, 0.0) != ref.ratio(1.0, 0.0)  # NaN, not a division error


def test_repeats_use_medians_over_all_bench_runs(ref):
    keys = [k for k, *_ in ref.METRICS + ref.EXTRA] + ["prompt_tokens_mean", "completed", "failed", "duration_s"]

    def run(v: float) -> object:
        return ref.Run("x", 0, {k: v for k in keys})

    # three rounds of rate 16: bench runs 100, 90 | 120, 100 | 110, 100 -> median 100; harness 101, 99, 130 -> median 101
    pts = [ref.Point("rate 16", run(a), run(h), run(b), {}, {}) for a, h, b in [(100, 101, 90), (120, 99, 100), (110, 130, 100)]]
    pts.append(ref.Point("rate 4", run(50), run(50), run(50), {}, {}))  # measured once: no median row
    summary = ref.over_repeats(pts)
    assert list(summary) == ["rate 16"] and summary["rate 16"]["repeats"] == 3
    m = summary["rate 16"]["metrics"]["ttft_p50_ms"]
    assert m["harness_median"] == 101 and m["bench_median"] == 100 and m["ratio"] == pytest.approx(1.01)
    assert m["bench_spread"] == pytest.approx(120 / 90) and m["harness_spread"] == pytest.approx(130 / 99)
    assert "| rate 16 | 3 | TTFT p50 ms | 101.00 | 100.00 | 1.010 | yes | 1.333 | 1.313 |" in ref.render_repeats(summary)
