"""Dataset inputs are accepted by a real MLflow store and read back."""

from __future__ import annotations

from harness.quality.tasks import TaskPlan


def test_dataset_inputs_logged(tmp_path, data_dir):
    from mlflow.tracking import MlflowClient

    from harness.tracking.datasets import dataset_inputs

    c = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    eid = c.create_experiment("d", artifact_location=(tmp_path / "a").as_uri())
    rid = c.create_run(eid).info.run_id
    plans = [TaskPlan("gsm8k", "harness_gsm8k", "gsm8k", str(data_dir), 5), TaskPlan("ifeval", "harness_ifeval", "ifeval", "hub", 0)]
    c.log_inputs(rid, datasets=dataset_inputs(plans, '{"users": 4}'))
    got = {d.dataset.name: d for d in c.get_run(rid).inputs.dataset_inputs}
    assert set(got) == {"gsm8k", "ifeval", "load-prompts"}
    assert got["gsm8k"].dataset.source_type == "local" and "test.jsonl" in got["gsm8k"].dataset.source
    assert got["ifeval"].dataset.source_type == "hub"
    assert [t.value for t in got["load-prompts"].tags] == ["load"]
