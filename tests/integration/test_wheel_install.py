"""The package installs: the built wheel, in a fresh virtualenv outside the checkout, runs a tiny sweep.

No network: the wheel is built without build isolation (setuptools>=77 from the test extra), and
the new virtualenv sees this environment's dependencies through a `.pth` file; only the wheel is
installed into it (`--no-deps --no-index`). The sweep (load and quality against the fake
llama-server) runs from a folder outside the checkout with no PYTHONPATH, so the locustfile and
the lm-eval task templates can only come from the installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.fakes.fake_llama_server import install as install_fake_llama

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
OFFLINE = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{argv[:4]} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def _build_wheel(tmp: Path) -> Path:
    """`pip wheel` of a copy of the project's build inputs (the checkout is left untouched)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "harness", src / "harness", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)], tmp, {**os.environ, **OFFLINE})
    (wheel,) = out.glob("llm_serving_harness-*.whl")
    return wheel


def _venv(tmp: Path, wheel: Path) -> Path:
    """A fresh virtualenv with only the wheel installed; this interpreter's site-packages hold its dependencies."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, dict(os.environ)).stdout.strip()
    deps = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (Path(site) / "_harness_test_dependencies.pth").write_text("".join(f"{d}\n" for d in deps))
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], tmp, {**os.environ, **OFFLINE})
    return venv


def test_the_built_wheel_runs_a_sweep_from_outside_the_checkout(tmp_path: Path, data_dir: Path):
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"building the wheel offline needs setuptools>=77 here (the test extra), not {setuptools.__version__}: pip install -e '.[test]'")
    wheel = _build_wheel(tmp_path)
    venv = _venv(tmp_path, wheel)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OFFLINE, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}", HARNESS_DATA_DIR=str(data_dir))

    # the installed package answers from its own folder: the harness, its locustfiles, its task files (evals/, shipped
    # as harness.evals): a template, and a shipped task planned by name with its data
    probe = _run([str(venv / "bin" / "python"), "-c", (
        "import harness; from importlib.resources import files; from harness.load.runner import default_locustfile\n"
        "from harness.quality.tasks import plan_tasks; from harness.spec.model import QualitySpec\n"
        "print(harness.__file__); print(default_locustfile()); print(default_locustfile(True)); print(files('harness.evals') / 'templates' / 'gsm8k.yaml')\n"
        "((plan, _),) = plan_tasks(QualitySpec(tasks=['mc_facts']), None); print(*plan.data_files)"
    )], work, env).stdout.split()
    installed = venv.resolve()
    assert len(probe) == 5 and all(Path(p).resolve().is_relative_to(installed) and Path(p).is_file() for p in probe), probe
    assert probe[1].endswith("chat.py") and probe[2].endswith("chat_steps.py")

    fake, model = install_fake_llama(tmp_path)
    spec = work / "wheel.yaml"
    spec.write_text(
        f"""
name: wheel-install
server:
  kind: llamacpp
  model: {model}
  served_model_name: fake-model
  startup_timeout_s: 30
  env: {{PYTHONPATH: "{REPO}"}}   # the fake llama-server's own code, not the harness's
  llamacpp: {{binary: "{fake}"}}
load: {{users: 1, duration_s: 3, warmup_s: 0, request_timeout_s: 10}}
quality: {{tasks: [gsm8k], limit: 1, num_fewshot: {{gsm8k: 0}}, data_dir: "{data_dir}"}}
metrics: {{interval_s: 1}}
tracking: {{run_dir: "{tmp_path / 'runs'}"}}
"""
    )
    _run([str(venv / "bin" / "harness"), "run", str(spec), "--no-compare"], work, env, timeout=600)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    (run,) = [r for r in client.search_runs([client.get_experiment_by_name("wheel-install").experiment_id]) if r.data.tags.get("harness.kind") == "variant"]
    m = run.data.metrics
    assert run.info.status == "FINISHED" and m["perf/requests"] > 0 and m["perf/error_rate"] == 0
    assert m["quality/gsm8k/samples"] == 1 and "quality/gsm8k/exact_match_strict" in m

    # nothing the run left behind points into the checkout's sources (rendered task configs, Locust's and lm-eval's logs)
    tasks = sorted((tmp_path / "runs").rglob("tasks/harness_gsm8k.yaml"))
    logs = sorted((tmp_path / "runs").rglob("locust.log")) + sorted((tmp_path / "runs").rglob("lm_eval.log"))
    assert tasks and len(logs) == 2
    checkout = [str(REPO / d) for d in ("harness", "locustfiles", "evals")]
    for path in tasks + logs:
        text = path.read_text(errors="replace")
        assert not any(c in text for c in checkout), (path, [c for c in checkout if c in text])
