"""The per-sample quality tables in MLflow's own UI, in a real browser: two variants' answers to the same prompt.

The tables are logged the way a sweep logs them (harness.tracking.tables.log_tables: `MlflowClient.log_table`),
a real `mlflow server` serves the store, and headless Chromium renders the run's artifact page and the
experiment's evaluation (artifact) view, where MLflow puts the runs' rows side by side.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.e2e.browser import dump_dom, mlflow_ui

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("chromium") is None,
                                                  reason="chromium not installed (apt-get install chromium; .ci/run does)")]

PROMPT = "What is the capital of France?"
REPLIES = {"q4_1": "The capital of France is Paris.", "q2_k": "France capital is the Lyon of Paris city."}


def test_two_variants_answers_to_one_prompt_in_the_mlflow_ui(tmp_path):
    from mlflow.tracking import MlflowClient

    from harness.tracking.tables import log_tables

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("ui-tables", artifact_location=str(tmp_path / "artifacts"))
    runs = {}
    for name, reply in REPLIES.items():
        folder = tmp_path / name
        (folder / "quality" / "tables").mkdir(parents=True)
        # the layout harness/quality/samples.py writes: prompt and reply first (tests/unit/quality/test_quality_reasoning.py)
        table = {"columns": ["prompt", "reply", "task", "doc_id", "exact_match"],
                 "data": [[PROMPT, reply, "tiny_qa", 0, float(name == "q4_1")], ["What is 2 + 2?", "4", "tiny_qa", 1, 1.0]]}
        (folder / "quality" / "tables" / "tiny_qa.json").write_text(json.dumps(table))
        run = client.create_run(exp, run_name=name)
        log_tables(client, run.info.run_id, folder, {"tables/quality_tiny_qa.json": "quality/tables/tiny_qa.json"})
        client.set_terminated(run.info.run_id)
        runs[name] = run.info.run_id
    with mlflow_ui(uri, tmp_path) as url:
        base = f"{url}/#/experiments/{exp}"
        page = dump_dom(f"{base}/runs/{runs['q2_k']}/artifacts/tables/quality_tiny_qa.json", tmp_path / "chrome-a", 20000)
        side = dump_dom(f"{base}/runs?compareRunsMode=ARTIFACT", tmp_path / "chrome-b", 20000)
    assert "quality_tiny_qa.json" in page and REPLIES["q2_k"] in page, page[-3000:]  # the run's table, rendered
    # the experiment's evaluation view, as it opens: grouped by prompt, both runs' replies to it side by side
    assert "Group by:" in side and "quality_tiny_qa.json" in side, side[-3000:]
    assert PROMPT in side and all(reply in side for reply in REPLIES.values()), side[-3000:]
