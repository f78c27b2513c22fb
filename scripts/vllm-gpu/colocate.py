"""A launched vLLM study run on servers side by side: one `vllm serve` argv per variant, and the attach spec.

usage: python scripts/vllm-gpu/colocate.py SPEC MODEL_DIR OUT_DIR [--share 0.18] [--port0 8001] [--vllm CMD]
          [--only v1,v2]

A launched spec restarts each variant's server for every block (about 1.5 min of GPU each for a 7B model); on one
big GPU the same configs can instead run side by side, each with a `--share` of the GPU's memory, one measured at a
time while the others idle, so interleaved blocks cost no restarts. This writes, from the spec's own argv builder
(harness.server.engines.vllm.vllm_argv, so the flags are exactly the launched study's):
  OUT_DIR/argv/<variant>.json   the argv of each server (gpu_memory_utilization = share, its own port)
  OUT_DIR/<name>-colocated.yaml the spec with `server.kind: openai` and each variant attached to its port
                                (load, repeats, gates unchanged; `--only`: the variants whose server started)
Each variant's own flags (those the first variant lacks) are kept in its description, since an attached server's flags are not known.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("model_dir")
    ap.add_argument("out", type=Path)
    ap.add_argument("--share", type=float, default=0.18)
    ap.add_argument("--port0", type=int, default=8001)
    ap.add_argument("--vllm", default="python3 -m vllm.entrypoints.cli.main")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    from harness.server.engines.vllm import vllm_argv
    from harness.spec.loader import load_spec, resolve_variants

    spec = load_spec(a.spec)
    raw = yaml.safe_load(Path(a.spec).read_text())
    only = {v for v in a.only.split(",") if v}
    (a.out / "argv").mkdir(parents=True, exist_ok=True)
    variants = []
    base_flags: list[str] = []
    for i, rv in enumerate(resolve_variants(spec)):
        port = a.port0 + i
        server = rv.server.model_copy(update={"vllm": rv.server.vllm.model_copy(update={"gpu_memory_utilization": a.share})})
        argv = a.vllm.split() + vllm_argv(server, a.model_dir, port)[1:]
        (a.out / "argv" / f"{rv.name}.json").write_text(json.dumps({"port": port, "argv": argv}))
        flags = vllm_argv(rv.server, "MODEL", 0)[3:]
        base_flags = base_flags if i else flags
        own = " ".join(f for f in flags if f not in base_flags) or "the baseline's flags"
        if only and rv.name not in only:
            continue
        variants.append({"name": rv.name, "description": f"{rv.description} [{own}]".strip(),
                         "server": {"openai": {"base_url": f"http://127.0.0.1:{port}"}}})
    raw["name"] = f"{spec.name}-colocated"
    raw["server"] = {"kind": "openai", "served_model_name": spec.resolved[0].server.served_model_name,
                     "openai": {"base_url": f"http://127.0.0.1:{a.port0}"}}
    raw["variants"] = variants
    out = a.out / f"{spec.name}-colocated.yaml"
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
