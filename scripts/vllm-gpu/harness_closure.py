"""Print name==version for every distribution the harness needs (transitively, for CPython 3.12 on
Linux x86-64) that is installed in this environment, minus the names listed in the files given
(what the GPU machine's image and vLLM's dependency pack already bring).

usage: .venv/bin/python scripts/vllm-gpu/harness_closure.py SKIP_FILE... > harness-reqs.txt
A SKIP_FILE holds names (or wheel file names) separated by whitespace.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as cn

TOP = ["pydantic>=2.6", "pyyaml", "httpx", "requests", "tenacity", "prometheus_client", "pandas", "numpy", "scipy", "matplotlib",
       "huggingface_hub", "locust", "lm-eval[api,ifeval]", "mlflow", "nvidia-ml-py", "gguf"]
ENV = {"python_version": "3.12", "python_full_version": "3.12.3", "platform_machine": "x86_64", "platform_system": "Linux",
       "sys_platform": "linux", "os_name": "posix", "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def main() -> None:
    skip: set[str] = set()
    for path in sys.argv[1:]:
        for word in open(path).read().split():
            skip.add(cn(re.split(r"-\d", word, maxsplit=1)[0]))
    dists = {cn(d.metadata["Name"]): d for d in md.distributions()}
    seen: dict[str, set[str]] = {}
    queue = [Requirement(r) for r in TOP]
    while queue:
        r = queue.pop()
        n = cn(r.name)
        if n in seen and set(r.extras) <= seen[n]:
            continue
        seen[n] = seen.get(n, set()) | set(r.extras)
        d = dists.get(n)
        if d is None:
            print(f"# not installed here: {n}", file=sys.stderr)
            continue
        for req in d.requires or []:
            rq = Requirement(req)
            if rq.marker and not any(rq.marker.evaluate(dict(ENV, extra=e)) for e in (sorted(seen[n]) or [""])):
                continue
            queue.append(rq)
    for n in sorted(seen):
        if n not in skip and n in dists:
            print(f"{n}=={dists[n].version}")


if __name__ == "__main__":
    main()
