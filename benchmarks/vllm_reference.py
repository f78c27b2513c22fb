"""Reference comparison: the harness's load against `vllm bench serve`, same server, same load.

For each load point, against ONE vLLM server (launched from a spec variant by the harness, or an
existing endpoint with --base-url), it runs in this order:

    vllm bench serve (seed A)  ->  harness load (Locust)  ->  vllm bench serve (seed B)

at the same request rate (Poisson arrivals on both sides) or, with --concurrency, the same number
of back-to-back users (`--max-concurrency N --request-rate inf` against N closed-loop users), with
the same prompt and output lengths (`--random-input-len/--random-output-len --ignore-eos` against
fixed `prompt_tokens/output_tokens` and `ignore_eos`), temperature 0 on both. It reports the ratios
harness / mean(bench A, bench B) of TTFT p50 and p99, TPOT p50 and output tokens/s (goal: within
±3%), the bench-vs-bench ratio B / A as the run-to-run noise of the reference itself, and the
server-side TTFT and queue time of each run from /metrics histogram deltas. Two bench runs with
different seeds (and, by default, prefix caching off on the launched server) keep one run from
being served from another's prefix cache.

    python benchmarks/vllm_reference.py --spec examples/vllm-smoke.yaml --variant bf16 \
        --set server.model=/root/smol --tokenizer /root/smol --rates 4 16 --out ref/

Writes <out>/reference.json (every number) and <out>/reference.md (the table).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.load.runner import LoadRun  # noqa: E402
from harness.server.endpoint import Endpoint  # noqa: E402
from harness.server.metrics import parse_metrics, summarize  # noqa: E402
from harness.spec import LoadSpec, load_spec, resolve_variants  # noqa: E402

# (key, bench JSON field, harness getter, label)
METRICS = [
    ("ttft_p50_ms", "p50_ttft_ms", lambda s: s.ttft_ms.p50, "TTFT p50 ms"),
    ("ttft_p99_ms", "p99_ttft_ms", lambda s: s.ttft_ms.p99, "TTFT p99 ms"),
    ("tpot_p50_ms", "p50_tpot_ms", lambda s: s.tpot_ms.p50, "TPOT p50 ms"),
    ("output_tokens_per_s", "output_throughput", lambda s: s.output_tokens_per_s, "output tok/s"),
]
EXTRA = [  # reported, no ratio goal
    ("tpot_p99_ms", "p99_tpot_ms", lambda s: s.tpot_ms.p99),
    ("itl_p50_ms", "p50_itl_ms", lambda s: s.itl_ms.p50),
    ("e2e_p50_ms", "p50_e2el_ms", lambda s: s.e2e_ms.p50),
    ("requests_per_s", "request_throughput", lambda s: s.requests_per_s),
]
GOAL = 0.03


@dataclass
class Run:
    """One measurement: client-side numbers plus the server's view of the same window."""

    tool: str
    seed: int
    numbers: dict[str, float]
    server: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0


@dataclass
class Point:
    load: str
    """'rate 16' or 'concurrency 8'."""
    bench_a: Run
    harness: Run
    bench_b: Run
    ratios: dict[str, float]
    """harness / mean(bench A, bench B)."""
    noise: dict[str, float]
    """bench B / bench A."""


def scrape(url: str | None, save: Path | None = None) -> object | None:
    """Parse one /metrics scrape, keeping its text in `save` (so the server view can be recomputed)."""
    if not url:
        return None
    import httpx

    try:
        text = httpx.get(url, timeout=10).text
    except httpx.HTTPError:
        return None
    if save is not None:
        save.write_text(text)
    return parse_metrics(text)


def server_view(before, after) -> dict[str, float]:
    if before is None or after is None:
        return {}
    s = summarize(before, after, [before, after])
    keys = ("ttft_s_p50", "ttft_s_p99", "queue_time_s_p50", "queue_time_s_p99", "queue_time_s_mean", "tpot_s_p50",
            "generation_tokens", "prompt_tokens", "prefix_cache_hit_rate", "requests_success")
    return {k: s[k] for k in keys if k in s}


def run_bench(args, endpoint: Endpoint, out: Path, tag: str, seed: int, rate: float | None, concurrency: int | None) -> Run:
    cmd = shlex.split(args.vllm) + [
        "bench", "serve", "--backend", "openai-chat", "--endpoint", "/v1/chat/completions",
        "--base-url", endpoint.base_url, "--model", endpoint.model, "--tokenizer", args.tokenizer,
        "--dataset-name", "random", "--random-input-len", str(args.input_len), "--random-output-len", str(args.output_len),
        "--num-prompts", str(args.num_prompts), "--ignore-eos", "--temperature", "0", "--seed", str(seed),
        "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,90,99",
        "--save-result", "--result-dir", str(out), "--result-filename", f"bench_{tag}.json",
    ]
    cmd += ["--request-rate", "inf", "--max-concurrency", str(concurrency)] if concurrency else ["--request-rate", f"{rate:g}"]
    before = scrape(endpoint.metrics_url, out / f"metrics_bench_{tag}_before.txt")
    t = time.time()
    with (out / f"bench_{tag}.txt").open("w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    wall = time.time() - t
    after = scrape(endpoint.metrics_url, out / f"metrics_bench_{tag}_after.txt")
    if code != 0:
        raise SystemExit(f"vllm bench serve exited {code}; see {out / f'bench_{tag}.txt'}")
    res = json.loads((out / f"bench_{tag}.json").read_text())
    numbers = {k: float(res[f]) for k, f, *_ in METRICS + EXTRA}
    numbers["completed"] = float(res["completed"])
    numbers["failed"] = float(res.get("failed", 0))
    numbers["prompt_tokens_mean"] = res["total_input_tokens"] / max(res["completed"], 1)
    numbers["duration_s"] = float(res["duration"])
    return Run("vllm bench serve", seed, numbers, server_view(before, after), wall)


def run_harness(args, endpoint: Endpoint, out: Path, tag: str, seed: int, rate: float | None, concurrency: int | None) -> Run:
    load: dict = {
        "warmup_s": 0, "seed": seed, "ignore_eos": True, "temperature": 0.0, "request_timeout_s": 120,
        "prompt_tokens": {"kind": "fixed", "mean": args.input_len, "min": args.input_len, "max": args.input_len},
        "output_tokens": {"kind": "fixed", "mean": args.output_len, "min": args.output_len, "max": args.output_len},
        "processes": args.processes,
    }
    if concurrency:
        load.update(users=concurrency, spawn_rate=float(concurrency), duration_s=args.duration_s or args.num_prompts / 8)
    else:
        if "pattern" not in LoadSpec.model_fields:
            raise SystemExit("this harness has no open-loop load (load.pattern); use --concurrency")
        # the same number of requests as the bench: num_prompts at `rate`
        load.update(pattern="poisson", rate=rate, users=args.users, duration_s=args.duration_s or args.num_prompts / rate)
    spec = LoadSpec(**load)
    before = scrape(endpoint.metrics_url, out / f"metrics_harness_{tag}_before.txt")
    t = time.time()
    result = LoadRun(spec, endpoint, out / f"harness_{tag}").start().finish()
    wall = time.time() - t
    after = scrape(endpoint.metrics_url, out / f"metrics_harness_{tag}_after.txt")
    s = result.summary
    numbers = {k: float(get(s)) for k, _, get, *_ in METRICS + EXTRA}
    numbers.update(completed=float(s.ok), failed=float(s.errors), prompt_tokens_mean=s.prompt_tokens_mean, duration_s=s.window_s)
    return Run("harness (Locust)", seed, numbers, server_view(before, after), wall)


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def measure_point(args, endpoint: Endpoint, out: Path, rate: float | None, concurrency: int | None, i: int, rep: int = 0) -> Point:
    label = f"concurrency {concurrency}" if concurrency else f"rate {rate:g}"
    tag = (f"c{concurrency}" if concurrency else f"r{rate:g}") + (f"_{rep}" if rep else "")
    seed = 100 + 10 * i + 1000 * rep
    print(f"== {label}{f' (repeat {rep})' if rep else ''}: vllm bench serve (A)", flush=True)
    a = run_bench(args, endpoint, out, f"{tag}_a", seed, rate, concurrency)
    print(f"== {label}: harness load", flush=True)
    h = run_harness(args, endpoint, out, tag, seed + 1, rate, concurrency)
    print(f"== {label}: vllm bench serve (B)", flush=True)
    b = run_bench(args, endpoint, out, f"{tag}_b", seed + 2, rate, concurrency)
    ratios = {k: ratio(h.numbers[k], (a.numbers[k] + b.numbers[k]) / 2) for k, *_ in METRICS}
    noise = {k: ratio(b.numbers[k], a.numbers[k]) for k, *_ in METRICS}
    point = Point(label, a, h, b, ratios, noise)
    print(render_point(point), flush=True)
    return point


def over_repeats(points: list[Point]) -> dict[str, dict]:
    """Per load point measured more than once: median harness / median of all bench runs (A and B pooled),
    and the bench's own spread (max / min over its runs) as the noise the ratio has to be read against."""
    out: dict[str, dict] = {}
    for label in dict.fromkeys(p.load for p in points):
        group = [p for p in points if p.load == label]
        if len(group) < 2:
            continue
        row: dict[str, dict[str, float]] = {}
        for k, *_ in METRICS:
            bench = [r.numbers[k] for p in group for r in (p.bench_a, p.bench_b)]
            harness = [p.harness.numbers[k] for p in group]
            row[k] = {"harness_median": statistics.median(harness), "bench_median": statistics.median(bench),
                      "ratio": ratio(statistics.median(harness), statistics.median(bench)),
                      "bench_spread": ratio(max(bench), min(bench)), "harness_spread": ratio(max(harness), min(harness))}
        out[label] = {"repeats": len(group), "metrics": row}
    return out


def render_repeats(summary: dict[str, dict]) -> str:
    rows = ["## Over the repeats (medians)", "", "| load point | repeats | metric | harness | bench (A and B) | ratio | within ±3% | bench max/min | harness max/min |",
            "|---|---|---|---|---|---|---|---|---|"]
    for label, item in summary.items():
        for k, _, _, name in METRICS:
            m = item["metrics"][k]
            ok = "yes" if abs(m["ratio"] - 1) <= GOAL else "no"
            rows.append(f"| {label} | {item['repeats']} | {name} | {m['harness_median']:.2f} | {m['bench_median']:.2f} | {m['ratio']:.3f} | {ok} | "
                        f"{m['bench_spread']:.3f} | {m['harness_spread']:.3f} |")
    return "\n".join(rows) + "\n"


def render_point(p: Point) -> str:
    rows = [f"### {p.load}", "", "| metric | bench A | harness | bench B | harness / mean(bench) | bench B / A | within ±3% |",
            "|---|---|---|---|---|---|---|"]
    for k, _, _, label in METRICS:
        r = p.ratios[k]
        ok = "yes" if abs(r - 1) <= GOAL else "no"
        rows.append(f"| {label} | {p.bench_a.numbers[k]:.2f} | {p.harness.numbers[k]:.2f} | {p.bench_b.numbers[k]:.2f} | "
                    f"{r:.3f} | {p.noise[k]:.3f} | {ok} |")
    for k, *_ in EXTRA + [("prompt_tokens_mean",), ("completed",), ("failed",), ("duration_s",)]:
        rows.append(f"| {k} | {p.bench_a.numbers[k]:.2f} | {p.harness.numbers[k]:.2f} | {p.bench_b.numbers[k]:.2f} | | | |")
    rows += ["", "Server side (/metrics histogram deltas over each run):", "",
             "| run | server TTFT p50 ms | server TTFT p99 ms | queue p50 ms | queue mean ms | server TPOT p50 ms | prefix-cache hit rate |",
             "|---|---|---|---|---|---|---|"]
    for name, run in (("bench A", p.bench_a), ("harness", p.harness), ("bench B", p.bench_b)):
        sv = run.server

        def ms(key: str) -> str:
            return f"{sv[key] * 1000:.2f}" if key in sv else "-"

        hit = f"{sv['prefix_cache_hit_rate']:.3f}" if "prefix_cache_hit_rate" in sv else "-"
        rows.append(f"| {name} | {ms('ttft_s_p50')} | {ms('ttft_s_p99')} | {ms('queue_time_s_p50')} | {ms('queue_time_s_mean')} | {ms('tpot_s_p50')} | {hit} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", help="spec whose variant's server the harness launches (kind: vllm)")
    p.add_argument("--variant", help="variant of --spec (default: the first)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="spec override, as for `harness run`")
    p.add_argument("--base-url", help="attach to this running vLLM instead of launching one")
    p.add_argument("--model", help="served model name (with --base-url)")
    p.add_argument("--tokenizer", required=True, help="tokenizer (local folder) for vllm bench serve's random prompts")
    p.add_argument("--vllm", default="vllm", help="how to run the vllm CLI, e.g. 'python3 -m vllm.entrypoints.cli.main'")
    p.add_argument("--rates", type=float, nargs="*", default=[], help="request rates (req/s), Poisson arrivals on both sides")
    p.add_argument("--concurrency", type=int, nargs="*", default=[], help="closed-loop points: N users vs --max-concurrency N")
    p.add_argument("--input-len", type=int, default=256)
    p.add_argument("--output-len", type=int, default=128)
    p.add_argument("--num-prompts", type=int, default=400)
    p.add_argument("--duration-s", type=float, default=None, help="harness load duration; default num_prompts / rate")
    p.add_argument("--users", type=int, default=64, help="open loop: the harness's pool of senders (most requests in flight)")
    p.add_argument("--processes", type=int, default=1, help="Locust processes for the harness load")
    p.add_argument("--keep-prefix-caching", action="store_true", help="do not add --no-enable-prefix-caching to the launched server")
    p.add_argument("--repeats", type=int, default=1, help="rounds over all points (each: bench A, harness, bench B); >1 adds medians")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if not args.rates and not args.concurrency:
        p.error("give --rates and/or --concurrency")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import contextlib

    from harness.server.launch import serve

    with contextlib.ExitStack() as stack:
        if args.base_url:
            endpoint = Endpoint(base_url=args.base_url.rstrip("/"), model=args.model or "", metrics_url=args.base_url.rstrip("/") + "/metrics", engine="vllm")
            server_info: dict = {"attached": args.base_url}
        else:
            sets = list(args.set)
            if not args.keep_prefix_caching:
                sets.append("server.vllm.enable_prefix_caching=false")
            spec = load_spec(args.spec, None, sets)
            variants = resolve_variants(spec)
            variant = next(v for v in variants if v.name == (args.variant or variants[0].name))
            running = stack.enter_context(serve(variant, out / "server"))
            endpoint = running.endpoint
            server_info = {"argv": running.argv, "ready_s": running.ready_s, "variant": variant.name, **running.endpoint.info}
            print(f"server ready in {running.ready_s:.0f}s: {' '.join(running.argv)}", flush=True)
        points: list[Point] = []
        for rep in range(args.repeats):  # a whole round of points per repeat: drift spreads over all of them
            points += [measure_point(args, endpoint, out, r, None, i, rep) for i, r in enumerate(args.rates)]
            points += [measure_point(args, endpoint, out, None, c, 50 + i, rep) for i, c in enumerate(args.concurrency)]

    summary = over_repeats(points)
    (out / "reference.json").write_text(json.dumps({"server": server_info, "goal": GOAL, "points": [asdict(p) for p in points],
                                                    "over_repeats": summary}, indent=1, default=str))
    md = ["# harness load vs `vllm bench serve`", "", f"server: `{' '.join(server_info.get('argv', [])) or server_info}`", ""]
    if summary:
        md.append(render_repeats(summary))
    md += [render_point(p) for p in points]
    (out / "reference.md").write_text("\n".join(md))
    print(f"wrote {out / 'reference.json'} and {out / 'reference.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
