"""Can the `openai` client make the harness's non-hot-path requests as well as httpx? (issue 20, deliverable 6)

Against local programmed servers (tests/fakes/openai_server.py, tests/fakes/fake_logprobs.py), the same requests
through httpx (what harness/server/readiness.py and harness/fidelity/client.py use) and through `openai.OpenAI`:
- import cost: a fresh interpreter importing httpx + pydantic, then that plus openai (median of `--imports` runs);
- per-request deadlines: a warm-up completion against a server that never answers, with a 0.5 s timeout (a probe
  capped by the time left), with openai's default retries and with `max_retries=0`;
- readiness: /health (not an OpenAI route), /v1/models listing, a 401 and its body, a refused connection;
- fidelity: chat with logprobs/top_logprobs, vLLM's `return_token_ids` and `prompt_logprobs` (extra_body) and the
  extra fields they answer (`prompt_token_ids`, `choices[].token_ids`, `choices[].prompt_logprobs`), llama.cpp's
  `grammar` and its `logprobs.content[].id`; time per request (median of `--n`).

    .venv/bin/python benchmarks/openai_client.py --out benchmarks/results/openai_client.json

`openai` is not a dependency of the harness (the measurement is why: docs/architecture.md); install it to re-run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import openai  # noqa: E402

from tests.fakes import fake_logprobs, openai_server  # noqa: E402

TIMEOUT_S = 0.5


def import_s(modules: str, runs: int) -> float:
    """Median wall seconds of `python -c "import <modules>"` in a fresh interpreter."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3)


def timed(fn: Callable[[], Any]) -> tuple[float, str]:
    """(seconds, outcome) of fn(): 'ok' or the exception's type and message."""
    t0 = time.perf_counter()
    try:
        fn()
        outcome = "ok"
    except Exception as exc:  # noqa: BLE001 (what each client raises is the measurement)
        cause = exc.__cause__ or exc.__context__
        outcome = f"{type(exc).__name__}: {str(exc)[:120]}" + (f" (cause: {type(cause).__name__})" if cause else "")
    return round(time.perf_counter() - t0, 3), outcome


def median_s(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 2)


def deadlines() -> dict:
    """A warm-up completion against a server that stalls: how long until each client gives up."""
    state = openai_server.FakeState(mode="stall", slow_s=30)
    srv = openai_server.start(state)
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
    limit = httpx.Timeout(TIMEOUT_S, connect=TIMEOUT_S)
    out = {"timeout_s": TIMEOUT_S}
    with httpx.Client() as h:
        out["httpx"] = timed(lambda: h.post(url + "/v1/chat/completions", json=body, timeout=limit))
    default = openai.OpenAI(base_url=url + "/v1", api_key="x")
    out["openai_default_retries"] = timed(lambda: default.chat.completions.create(**body, timeout=limit))
    once = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    out["openai_max_retries_0"] = timed(lambda: once.chat.completions.create(**body, timeout=limit))
    state.release.set()
    srv.shutdown()
    return out


def readiness() -> dict:
    state = openai_server.FakeState(mode="ok")
    srv = openai_server.start(state)
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    o = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    out: dict[str, Any] = {}
    with httpx.Client() as h:
        out["models_httpx"] = [m["id"] for m in h.get(url + "/v1/models").json()["data"]]
        out["models_openai"] = [m.id for m in o.models.list()]
        # /health is not an OpenAI route: the low-level get with an absolute URL and a raw response
        out["health_openai"] = o.get(url + "/health", cast_to=httpx.Response).status_code
        out["health_httpx"] = h.get(url + "/health").status_code
    srv.shutdown()
    # a refused connection: httpx names it (ConnectError 'refused'); openai wraps it
    dead = "http://127.0.0.1:9"
    with httpx.Client() as h:
        out["refused_httpx"] = timed(lambda: h.get(dead + "/v1/models", timeout=2))[1]
    out["refused_openai"] = timed(lambda: openai.OpenAI(base_url=dead + "/v1", api_key="x", max_retries=0).models.list())[1]
    # an error answer (vLLM's 404 JSON body for an unknown model): the status and body each client shows
    srv = fake_logprobs.start(fake_logprobs.State())  # 404 JSON error body for an unknown model
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    wrong = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    body = {"model": "nope", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    with httpx.Client() as h:
        r = h.post(url + "/v1/chat/completions", json=body)
        out["error_body_httpx"] = f"HTTP {r.status_code}: {r.text[:160]}"
    out["error_body_openai"] = timed(lambda: wrong.chat.completions.create(**body))[1]
    srv.shutdown()
    return out


def fidelity(n: int) -> dict:
    """vLLM-shaped fidelity requests through both clients: same answers (as dicts), extras kept, time per request."""
    state = fake_logprobs.State()
    srv = fake_logprobs.start(state)
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    o = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    chat = {"model": "fake-vllm", "messages": [{"role": "user", "content": "the cat sat on the mat"}], "max_tokens": 64,
            "temperature": 0.0, "seed": 1, "logprobs": True, "top_logprobs": 5}
    extras = {"return_token_ids": True}
    out: dict[str, Any] = {}
    with httpx.Client() as h:
        raw = h.post(url + "/v1/chat/completions", json={**chat, **extras}).json()
        via = o.chat.completions.create(**chat, extra_body=extras).to_dict()
        out["chat_same_answer"] = raw["choices"][0]["logprobs"] == via["choices"][0]["logprobs"]
        out["chat_prompt_token_ids_kept"] = via.get("prompt_token_ids") == raw["prompt_token_ids"]
        out["chat_choice_token_ids_kept"] = via["choices"][0].get("token_ids") == raw["choices"][0]["token_ids"]
        ids = raw["prompt_token_ids"] + raw["choices"][0]["token_ids"]
        comp = {"model": "fake-vllm", "prompt": ids, "max_tokens": 1, "temperature": 0.0}
        forcing = {"prompt_logprobs": 5, "add_special_tokens": False}
        raw_c = h.post(url + "/v1/completions", json={**comp, **forcing}).json()
        via_c = o.completions.create(**comp, extra_body=forcing).to_dict()
        out["prompt_logprobs_kept"] = via_c["choices"][0].get("prompt_logprobs") == raw_c["choices"][0]["prompt_logprobs"]
        out["ms_per_chat_httpx"] = median_s(lambda: h.post(url + "/v1/chat/completions", json={**chat, **extras}).json(), n)
        out["ms_per_chat_openai"] = median_s(lambda: o.chat.completions.create(**chat, extra_body=extras).to_dict(), n)
    srv.shutdown()
    return out


def llamacpp_extras() -> dict:
    """llama-server's logprobs entries carry an integer `id`; does it survive openai's models? (parsing only: a
    recorded-shape answer through openai's ChatCompletion type)."""
    from openai.types.chat import ChatCompletion

    entry = {"id": 42, "token": " cat", "bytes": [32, 99, 97, 116], "logprob": -0.1,
             "top_logprobs": [{"id": 42, "token": " cat", "bytes": [32, 99, 97, 116], "logprob": -0.1}]}
    answer = {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
              "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": " cat"},
                           "logprobs": {"content": [entry]}}]}
    parsed = ChatCompletion.model_validate(answer).to_dict()
    kept = parsed["choices"][0]["logprobs"]["content"][0]
    state = fake_logprobs.State()
    srv = fake_logprobs.start(state)
    o = openai.OpenAI(base_url=f"http://127.0.0.1:{srv.server_address[1]}/v1", api_key="x", max_retries=0)
    o.chat.completions.create(model="fake-vllm", messages=[{"role": "user", "content": "hi"}], max_tokens=2,
                              extra_body={"grammar": 'root ::= " cat"'})
    srv.shutdown()
    return {"content_id_kept": kept.get("id") == 42, "top_logprobs_id_kept": kept["top_logprobs"][0].get("id") == 42,
            "grammar_sent_top_level": state.bodies[-1][1].get("grammar") == 'root ::= " cat"'}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--imports", type=int, default=5, help="fresh interpreters per import measurement")
    p.add_argument("--n", type=int, default=30, help="requests per time-per-request measurement")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    result = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(),
                    "openai": openai.__version__, "httpx": httpx.__version__, "when": time.strftime("%Y-%m-%d %H:%M")},
        "import_s": {"httpx+pydantic": import_s("httpx, pydantic", a.imports),
                     "httpx+pydantic+openai": import_s("httpx, pydantic, openai", a.imports)},
        "deadline": deadlines(),
        "readiness": readiness(),
        "fidelity": fidelity(a.n),
        "llamacpp": llamacpp_extras(),
    }
    result["import_s"]["openai_extra"] = round(result["import_s"]["httpx+pydantic+openai"] - result["import_s"]["httpx+pydantic"], 3)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
