"""Fidelity of running servers to a baseline one, side by side in one run (the GPU proof of issue 12).

    python benchmarks/fidelity_endpoints.py --model NAME --baseline bf16=http://127.0.0.1:8001 \
        --candidate fp8=http://127.0.0.1:8003 --candidate kv-fp8=http://127.0.0.1:8004 --out DIR [--prompts 200]

The baseline is sent the seeded prompt set twice (the second pass against the first is the noise floor); each
candidate once, compared against the baseline's first pass (teacher forcing where the engine scores a given
continuation, e.g. vLLM's prompt_logprobs). Writes DIR/fidelity.json (every metric with its bootstrap interval),
DIR/fidelity.md (the table) and each pass's generations.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.fidelity.records import load_reference  # noqa: E402
from harness.fidelity.stage import FidelityRun  # noqa: E402
from harness.server.endpoint import Endpoint  # noqa: E402
from harness.spec.fidelity import FidelitySpec  # noqa: E402


def _pair(text: str) -> tuple[str, str]:
    name, _, url = text.partition("=")
    if not name or not url.startswith("http"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=http://host:port")
    return name, url.rstrip("/")


def _run(spec: FidelitySpec, name: str, url: str, model: str, folder: Path, reference=None):
    run = FidelityRun(spec, Endpoint(url, model, engine="openai"), folder, reference=reference).start()
    while run.running():
        time.sleep(2)
        print(f"  {name}: {run.progress()}", file=sys.stderr, flush=True)
    return run.finish()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="served model name")
    ap.add_argument("--baseline", type=_pair, required=True)
    ap.add_argument("--candidate", type=_pair, action="append", default=[])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=1)
    args = ap.parse_args()
    spec = FidelitySpec(prompts=args.prompts, max_tokens=args.max_tokens, top_k=args.top_k, concurrency=args.concurrency)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    name, url = args.baseline
    base = _run(spec, name, url, args.model, args.out / name)
    assert base.reference_path is not None
    reference = load_reference(base.reference_path)
    rows = {name: {"role": "baseline (noise floor: 2nd pass vs 1st)", "notes": base.notes,
                   "metrics": base.comparison.metrics() if base.comparison else {}}}
    lines = [f"{name} (noise floor): {base.comparison.line() if base.comparison else 'no second pass'}"]
    for cname, curl in args.candidate:
        res = _run(spec, cname, curl, args.model, args.out / cname, reference=reference)
        rows[cname] = {"role": f"candidate vs {name}", "notes": res.notes, "metrics": res.comparison.metrics() if res.comparison else {}}
        lines.append(f"{cname} vs {name}: {res.comparison.line() if res.comparison else 'no comparison'}")
    summary = {"settings": spec.model_dump(mode="json"), "baseline": name, "wall_s": round(time.time() - started, 1), "passes": rows}
    (args.out / "fidelity.json").write_text(json.dumps(summary, indent=2, default=str))
    table = ["| pass | identical | top-1 agreement | KL (nats) | first divergence |", "|---|---|---|---|---|"]
    for pname, row in rows.items():
        m = row["metrics"]

        def ci(k: str, fmt: str) -> str:
            if f"fidelity/{k}" not in m:
                return "-"
            return f"{m[f'fidelity/{k}']:{fmt}} [{m.get(f'fidelity/{k}_ci_low', float('nan')):{fmt}}, {m.get(f'fidelity/{k}_ci_high', float('nan')):{fmt}}]"

        table.append(f"| {pname} ({row['role']}) | {ci('identical_rate', '.3f')} | {ci('top1_agreement', '.4f')} | {ci('kl', '.5f')} | {ci('first_divergence', '.1f')} |")
    (args.out / "fidelity.md").write_text("\n".join(table) + "\n\n" + "\n".join(lines) + "\n")
    print("\n".join(table + [""] + lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
