"""Stands in for `llama-server` in fault-injection tests: accepts its flags, serves the fake API.

FAKE_DIE_AFTER=<seconds> makes it print an out-of-memory line and exit 137 mid-run;
FAKE_MODE=<mode> selects a fault mode of tests.fakes.openai_server (FAKE_SLOW_S: how slow `slow` is);
FAKE_TTFT_S, FAKE_INTERVAL_S program the timing and FAKE_JITTER multiplies every delay by a random factor in [1-j, 1+j];
FAKE_CACHED_TOKENS=<n> reports n cached prompt tokens (of 5) in each stream's usage (`prompt_tokens_details`);
FAKE_INVALID=<fraction> answers that share of structured requests (response_format / tools) with an invalid reply;
FAKE_SLOTS=<n> answers at most n streams at once, the rest queue (reported as running / deferred on /metrics);
FAKE_FAIL_FIRST=<path>: the first launch (while <path> does not exist) creates it, prints an error and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from tests.fakes.openai_server import FakeState, start


def install(folder: Path) -> tuple[Path, Path]:
    """Write an executable `fake-llama` (this module under the current Python) and a dummy model file."""
    fake = folder / "fake-llama"
    fake.write_text(f"#!{sys.executable}\nfrom tests.fakes.fake_llama_server import main\nmain()\n")
    fake.chmod(0o755)
    model = folder / "model.gguf"
    model.write_bytes(b"GGUF fake")
    return fake, model


def load_only_spec(folder: Path, name: str, env: dict[str, str], load: dict) -> dict:
    """A spec (as build_spec takes it) of one variant served by the installed stand-in, load only (quality, fidelity,
    /metrics off), tracked in a SQLite store in `folder` (`folder / "mlflow.db"`)."""
    fake, model = install(folder)
    return {
        "name": name,
        "server": {"kind": "llamacpp", "model": str(model), "served_model_name": "fake-model", "startup_timeout_s": 30,
                   "llamacpp": {"binary": str(fake)}, "env": env},
        "load": load,
        "quality": {"enabled": False},
        "fidelity": {"enabled": False},
        "metrics": {"enabled": False},
        "tracking": {"uri": f"sqlite:///{folder / 'mlflow.db'}", "run_dir": str(folder / "runs")},
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--alias", default="fake-model")
    args, _unknown = p.parse_known_args([a for a in sys.argv[1:] if a != "--"])
    marker = os.environ.get("FAKE_FAIL_FIRST")
    if marker and not os.path.exists(marker):
        Path(marker).write_text("failed once\n")
        print("error: failed to start (FAKE_FAIL_FIRST)", flush=True)
        sys.exit(1)
    state = FakeState(mode=os.environ.get("FAKE_MODE", "ok"), chunks=8, ttft_s=float(os.environ.get("FAKE_TTFT_S", "0.02")),
                      interval_s=float(os.environ.get("FAKE_INTERVAL_S", "0.01")), model=args.alias,
                      slow_s=float(os.environ.get("FAKE_SLOW_S", "0")), jitter=float(os.environ.get("FAKE_JITTER", "0")),
                      slots=int(os.environ.get("FAKE_SLOTS", "0")),
                      cached_tokens=int(os.environ["FAKE_CACHED_TOKENS"]) if os.environ.get("FAKE_CACHED_TOKENS") else None)
    state.invalid = float(os.environ.get("FAKE_INVALID", "0"))
    start(state, args.port)
    print(f"fake llama-server listening on {args.port}", flush=True)
    die_after = float(os.environ.get("FAKE_DIE_AFTER", "0"))
    if die_after:
        time.sleep(die_after)
        print("ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer: out of memory", flush=True)
        os._exit(137)
    threading.Event().wait()


if __name__ == "__main__":
    main()
