"""A real quantization sweep on llama-server: the Q4_1 source (baseline) vs its llama-quantize Q2_K, the fidelity
stage only (no load, no quality), into a real MLflow SQLite store; then the saved reference reused by a second
sweep that does not launch the baseline."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.integration.conftest import skip_without_quantize

pytestmark = pytest.mark.e2e

SERVER = {"llamacpp": {"parallel": 1, "ctx_size": 2048, "threads": 2}}
FIDELITY = {"prompts": 16, "max_tokens": 12, "bootstrap": 500}


def _spec(tmp: Path, variants: list[dict], **fidelity):
    from harness.spec import build_spec

    return build_spec({
        "name": "fid-quant", "server": SERVER, "variants": variants,
        "load": {"enabled": False}, "quality": {"enabled": False}, "metrics": {"enabled": False},
        "fidelity": {**FIDELITY, **fidelity}, "gates": {"baseline": {"variant": "q4_1"}},
        "tracking": {"uri": f"sqlite:///{tmp / 'mlflow.db'}", "run_dir": str(tmp / "runs")},
    }, {}, [])


def _runs(tmp: Path, sweep_id: str):
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    exp = c.get_experiment_by_name("fid-quant")
    return c, {r.data.tags["harness.variant"]: r for r in c.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{sweep_id}'")}


@pytest.fixture(scope="module")
def first_sweep(tmp_path_factory):
    skip_without_quantize()
    from harness import run_experiment
    from harness.pipeline.presenter import Presenter

    tmp = tmp_path_factory.mktemp("fid-quant")
    spec = _spec(tmp, [{"name": "q4_1"}, {"name": "q2_k", "server": {"llamacpp": {"quantize": "Q2_K"}}}])
    lines: list[str] = []
    return run_experiment(spec, Presenter(lines.append)), tmp, lines


def test_q2_k_below_the_noise_floor_logged_in_mlflow(first_sweep):
    result, tmp, lines = first_sweep
    assert result.exit_code == 0, [f.headline for o in result.sweep.outcomes for f in o.failures] + [p.message for p in result.problems]
    c, runs = _runs(tmp, result.sweep.parent_run_id)
    base, q2k = runs["q4_1"].data, runs["q2_k"].data
    for m in (base.metrics, q2k.metrics):
        for name in ("top1_agreement", "kl", "identical_rate", "first_divergence"):
            assert {f"fidelity/{name}", f"fidelity/{name}_ci_low", f"fidelity/{name}_ci_high", f"fidelity/noise/{name}"} <= set(m)
        assert m["fidelity/teacher_forced"] == 1.0 and m["fidelity/prompts"] == 16
    # llama.cpp on CPU serves the same prompts bit-identically twice: the floor is 1.0 / 0
    floor_low = q2k.metrics["fidelity/noise/top1_agreement_ci_low"]
    assert q2k.metrics["fidelity/noise/top1_agreement"] == base.metrics["fidelity/top1_agreement"] > 0.99
    assert q2k.metrics["fidelity/top1_agreement"] < q2k.metrics["fidelity/noise/top1_agreement"]
    assert q2k.metrics["fidelity/top1_agreement_ci_high"] < floor_low, (q2k.metrics["fidelity/top1_agreement_ci_high"], floor_low)
    assert q2k.metrics["fidelity/kl_ci_low"] > q2k.metrics["fidelity/noise/kl_ci_high"]
    # the reference is the baseline's artifact; the derived model's facts are logged
    files = [f.path for f in c.list_artifacts(runs["q4_1"].info.run_id, "fidelity")]
    assert {"fidelity/reference.jsonl", "fidelity/reference.meta.json"} <= set(files)
    assert q2k.params["model.quantize_type"] == "Q2_K" and q2k.tags["harness.quantization"] == "Q2_K"
    assert int(q2k.params["model.size_bytes"]) < Path(result.sweep.outcomes[0].server.model.location).stat().st_size
    assert q2k.params["model.sha256"] == q2k.params["model.derived_sha256"] != base.params["model.sha256"]
    assert q2k.params["model.source_sha256"] == base.params["model.sha256"]
    assert math.isclose(q2k.metrics["knob/bits_per_weight"], float(q2k.params["model.bits_per_weight"]), rel_tol=1e-3)
    assert q2k.metrics["knob/bits_per_weight"] < base.metrics["knob/bits_per_weight"]
    print("\n" + "\n".join(line for line in lines if "fidelity" in line))


def test_saved_reference_is_reused_without_the_baseline_server(first_sweep):
    from harness import run_experiment
    from harness.pipeline.presenter import Presenter

    result, tmp, _ = first_sweep
    assert result.exit_code == 0
    base, q2k = result.sweep.outcomes
    spec = _spec(tmp, [{"name": "q2_k", "server": {"llamacpp": {"quantize": "Q2_K"}}}], reference=str(base.folder))
    lines: list[str] = []
    again = run_experiment(spec, Presenter(lines.append), compare=False)
    assert again.exit_code == 0, [f.headline for o in again.sweep.outcomes for f in o.failures]
    (only,) = again.sweep.outcomes
    assert not (again.sweep.folder / "q4_1").exists() and not any("q4_1: starting" in line for line in lines)
    assert only.fidelity.compared_to == base.fidelity.reference_path
    # llama.cpp is deterministic on CPU: the same comparison as in the first sweep, and the saved noise floor
    assert only.fidelity.comparison.top1_agreement.value == q2k.fidelity.comparison.top1_agreement.value
    _, runs = _runs(tmp, again.sweep.parent_run_id)
    m = runs["q2_k"].data.metrics
    assert m["fidelity/noise/top1_agreement"] > 0.99 and m["fidelity/top1_agreement"] < m["fidelity/noise/top1_agreement_ci_low"]
