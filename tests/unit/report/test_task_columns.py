"""Every quality task a sweep ran, not only GSM8K/IFEval, gets a headline column, stars and a significance test."""

from __future__ import annotations

import json

from harness.report.columns import columns_for, headline_metric, higher_is_better, ran_tasks, task_columns
from harness.report.decision import build_decision
from harness.report.render import markdown
from harness.spec.gates import GatesSpec
from harness.tracking.reader import RunRecord


def _run(name: str, metrics: dict[str, float], tasks=("arc_easy", "gsm8k")) -> RunRecord:
    params = {f"quality.task.{t}.lm_eval_task": f"harness_{t}" for t in tasks}
    return RunRecord(f"id-{name}", name, "0", "s", "ok", {"perf/output_tokens_per_s": 10.0, **metrics}, params, {})


def test_a_tasks_headline_is_its_first_preferred_score():
    logged = {"quality/arc_easy/acc", "quality/arc_easy/acc_stderr", "quality/arc_easy/acc_norm", "quality/arc_easy/samples",
              "quality/nq_open/exact_match_remove_whitespace", "quality/wikitext/word_perplexity", "quality/wikitext/bits_per_byte"}
    assert headline_metric("arc_easy", logged) == "quality/arc_easy/acc_norm"
    assert headline_metric("nq_open", logged) == "quality/nq_open/exact_match_remove_whitespace"
    assert headline_metric("wikitext", logged) == "quality/wikitext/bits_per_byte"  # no preferred score: the first by name
    assert headline_metric("mmlu", logged) is None
    assert not higher_is_better("quality/wikitext/bits_per_byte") and not higher_is_better("quality/wikitext/word_perplexity")
    assert higher_is_better("quality/nq_open/exact_match_remove_whitespace") and higher_is_better("quality/arc_easy/acc_norm")


def test_columns_come_from_the_tasks_the_specs_listed_not_their_members():
    runs = [_run("a", {"quality/arc_easy/acc": 0.5, "quality/mmlu_anatomy/acc": 0.3}, tasks=("arc_easy",)),
            _run("b", {"quality/boolq/acc": 0.7}, tasks=("boolq", "gsm8k"))]
    assert ran_tasks(runs) == ["arc_easy", "boolq", "gsm8k"]
    assert [(m, label) for m, label, _ in task_columns(runs)] == [("quality/arc_easy/acc", "arc_easy acc"), ("quality/boolq/acc", "boolq acc")]
    labels = [label for _, label, _ in columns_for(runs)]
    assert labels.index("ifeval inst strict") < labels.index("arc_easy acc") < labels.index("fid top-1")


def test_the_report_compares_another_task_on_its_samples(tmp_path):
    """Two variants that differ on 30 of 60 ARC documents: a column, a star for the better one only, a significant drop."""
    class Store:  # the per-sample artifacts as RunStore.download_samples returns them
        def download_samples(self, run_id: str, where):
            where.mkdir(parents=True, exist_ok=True)
            path = where / "samples_harness_arc_easy_2026-01-01T00-00-00.jsonl"
            worse = run_id == "id-q2"
            rows = [{"doc_id": i, "filter": "none", "metrics": ["acc"], "acc": 0.0 if worse and i < 30 else 1.0} for i in range(60)]
            path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
            return [path]

        def adaptive_design(self, sweep_id: str) -> tuple[dict[str, float], list[str]]:  # a fixed count: no design
            return {}, []

    runs = [_run("base", {"quality/arc_easy/acc": 1.0, "quality/arc_easy/acc_stderr": 0.0}),
            _run("q2", {"quality/arc_easy/acc": 0.5, "quality/arc_easy/acc_stderr": 0.065})]
    gates = GatesSpec.model_validate({"baseline": {"variant": "base"}})
    report = build_decision(runs, gates, "e", "s", False, store=Store(), workdir=tmp_path)
    assert "arc_easy acc" in report.table.columns
    assert report.tied["arc_easy acc"] == ["base"]
    [diff] = [d for d in report.differences if d.metric == "quality/arc_easy/acc"]
    assert diff.n == 60 and diff.delta == -0.5 and diff.significant
    text = markdown(report, {})
    assert "arc_easy acc" in text and "q2 vs base on quality/arc_easy/acc: drop of -0.500" in text
