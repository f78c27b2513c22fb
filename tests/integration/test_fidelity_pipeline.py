"""The fidelity stage through the whole pipeline (`run_experiment`) against real HTTP servers answering with
log-probabilities (tests/fakes/fake_logprobs.py, vLLM's shapes, teacher forcing by prompt_logprobs), into a
real MLflow SQLite store: the baseline first, its reference logged, the noise floor next to every variant, a
per-prompt MLflow table, the report's columns; then a saved reference reused with the baseline's server gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.fake_logprobs import State, start
from tests.fakes.openai_server import FakeState, start as start_plain

pytestmark = pytest.mark.integration


@pytest.fixture
def servers():
    made = []

    def make(state):
        srv = (start if isinstance(state, State) else start_plain)(state)
        made.append(srv)
        return srv, f"http://127.0.0.1:{srv.server_address[1]}"

    yield make
    for srv in made:
        srv.shutdown()


def _attach(name: str, url: str, model: str = "fake-vllm") -> dict:
    return {"name": name, "server": {"kind": "openai", "served_model_name": model, "openai": {"base_url": url, "metrics_url": ""}}}


def _spec(tmp: Path, variants: list[dict], **extra):
    from harness.spec import build_spec

    return build_spec({
        "name": "fid-pipe", "variants": variants, "load": {"enabled": False}, "quality": {"enabled": False},
        "metrics": {"enabled": False},
        "fidelity": {"prompts": 24, "max_tokens": 10, "top_k": 3, "bootstrap": 300, **extra.pop("fidelity", {})},
        "tracking": {"uri": f"sqlite:///{tmp / 'mlflow.db'}", "run_dir": str(tmp / "runs")}, **extra,
    }, {}, [])


def _children(tmp: Path, sweep_id: str):
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    exp = c.get_experiment_by_name("fid-pipe")
    runs = c.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{sweep_id}'")
    return c, {r.data.tags["harness.variant"]: r for r in runs}


def _artifacts(c, run_id: str, path: str = "") -> list[str]:
    out = []
    for f in c.list_artifacts(run_id, path):
        out += _artifacts(c, run_id, f.path) if f.is_dir else [f.path]
    return out


def test_sweep_baseline_first_noise_floor_table_and_report(tmp_path, servers):
    from harness import run_experiment
    from harness.pipeline.presenter import Presenter

    base_srv, base_url = servers(State(noise=0.0))
    _, noisy_url = servers(State(noise=1.5))
    # the baseline is listed second: it still runs first
    spec = _spec(tmp_path, [_attach("noisy", noisy_url), _attach("base", base_url)], gates={"baseline": {"variant": "base"}})
    lines: list[str] = []
    result = run_experiment(spec, Presenter(lines.append))
    assert result.exit_code == 0, [f.headline for o in result.sweep.outcomes for f in o.failures] + [p.message for p in result.problems]
    assert [o.variant.name for o in result.sweep.outcomes] == ["base", "noisy"]
    base, noisy = result.sweep.outcomes
    assert base.fidelity.role == "baseline" and noisy.fidelity.role == "variant"
    assert noisy.fidelity.compared_to == base.fidelity.reference_path == base.folder / "fidelity" / "reference.jsonl"
    assert noisy.fidelity_floor is base.fidelity.noise_floor
    assert any("fidelity vs the baseline" in line and "top-1 agreement" in line for line in lines), lines

    c, runs = _children(tmp_path, result.sweep.parent_run_id)
    mb, mn = runs["base"].data.metrics, runs["noisy"].data.metrics
    for m in (mb, mn):  # the noise floor is logged next to every variant, with its interval
        assert {"fidelity/noise/top1_agreement", "fidelity/noise/kl", "fidelity/noise/top1_agreement_ci_low"} <= set(m)
        assert m["fidelity/noise/top1_agreement"] == 1.0 and m["fidelity/teacher_forced"] == 1.0
    assert mn["fidelity/prompts"] == 24 and mn["fidelity/top1_agreement_ci_low"] <= mn["fidelity/top1_agreement"]
    assert mn["fidelity/top1_agreement_ci_high"] < mn["fidelity/noise/top1_agreement_ci_low"]
    assert mn["fidelity/kl_ci_low"] > mn["fidelity/noise/kl_ci_high"]
    assert runs["noisy"].data.params["fidelity.reference_file"].endswith("base/fidelity/reference.jsonl")
    assert runs["noisy"].data.params["fidelity.method"] == "teacher_forcing"
    assert runs["base"].data.tags["harness.fidelity_role"] == "baseline"

    # the reference (and its meta) are the baseline run's artifacts; each run has its per-prompt table
    base_files = _artifacts(c, runs["base"].info.run_id)
    assert {"fidelity/reference.jsonl", "fidelity/reference.meta.json", "fidelity/generations.jsonl"} <= set(base_files)
    for run in runs.values():
        assert {"path": "fidelity/prompts.json", "type": "table"} in json.loads(run.data.tags["mlflow.loggedArtifacts"])
    table = json.loads(Path(c.download_artifacts(runs["noisy"].info.run_id, "fidelity/prompts.json", str(tmp_path))).read_text())
    assert len(table["data"]) == 24 and {"prompt_id", "first_divergence", "kl", "text", "reference_text"} <= set(table["columns"])
    assert table["columns"][:2] == ["prompt", "text"]  # MLflow's evaluation view groups by the first and compares the second

    # compare and the report show the fidelity columns
    table = result.comparison.table
    assert table.loc["noisy", "fid top-1"] < table.loc["base", "fid top-1"] == 1.0
    assert result.report.report.frontiers == []  # load off: no throughput axis, so no frontier (tests/unit/report/test_axes.py)

    # a later sweep reuses the saved reference: the baseline's server is gone and never asked
    base_srv.shutdown()
    again = _spec(tmp_path, [_attach("noisy", noisy_url)], fidelity={"reference": str(base.folder)})
    second = run_experiment(again, Presenter(lines.append))
    assert second.exit_code == 0, [f.headline for o in second.sweep.outcomes for f in o.failures]
    (only,) = second.sweep.outcomes
    assert only.fidelity.compared_to == base.fidelity.reference_path
    assert only.fidelity.comparison.top1_agreement.value == pytest.approx(noisy.fidelity.comparison.top1_agreement.value)
    _, runs2 = _children(tmp_path, second.sweep.parent_run_id)
    m2 = runs2["noisy"].data.metrics
    assert m2["fidelity/noise/top1_agreement"] == 1.0 and m2["fidelity/top1_agreement"] == pytest.approx(mn["fidelity/top1_agreement"])


def test_default_on_skips_an_endpoint_without_logprobs_but_required_fails(tmp_path, servers):
    from harness import run_experiment
    from harness.pipeline.presenter import Presenter

    _, url = servers(FakeState(mode="ok", model="fake-model"))
    variants = [_attach("a", url, "fake-model"), _attach("b", url, "fake-model")]
    lines: list[str] = []
    result = run_experiment(_spec(tmp_path, variants, gates={"baseline": {"variant": "a"}}), Presenter(lines.append), compare=False)
    assert result.exit_code == 0 and all(o.fidelity is None for o in result.sweep.outcomes)
    assert any("fidelity skipped" in line and "without log-probabilities" in line for line in lines), lines
    assert any("b: fidelity: skipped: the baseline a made no reference" in line for line in lines), lines

    required = _spec(tmp_path, variants, gates={"baseline": {"variant": "a"}}, fidelity={"enabled": True})
    result = run_experiment(required, Presenter(lines.append), compare=False)
    assert result.failed_variants == ["a"]
    (failure,) = result.sweep.outcomes[0].failures
    assert failure.stage == "fidelity" and "without log-probabilities" in failure.message
