"""Every name a consumer reads is one the writer produces: the real SweepLogger, outcomes built from real
typed records, a real SQLite MLflow store, read back through tracking.reader (once, for compare, publish and gate)."""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import Failure
from harness.load.capacity_result import CapacityAtSLO
from harness.load.records import RequestRecord
from harness.load.runner import LoadArtifacts, LoadResult
from harness.load.stats import Distribution, summarize
from harness.outcome import VariantOutcome
from harness.quality.runner import QualityResult, parse_results, quality_flags
from harness.quality.tasks import TaskPlan
from harness.server.endpoint import Endpoint
from harness.server.launch import RunningServer
from harness.server.metrics import parse_metrics
from harness.server.metrics import ScrapeResult
from harness.server.metrics import summarize as summarize_scrapes
from harness.server.model_source import ResolvedModel
from harness.spec import build_spec, resolve_variants
from harness.spec.gates import GatesSpec
from harness.tracking import contract
from harness.tracking.contract import Tag
from harness.tracking.reader import RunStore, read_runs

REPO = Path(__file__).resolve().parents[2]
FAMILY_RE = re.compile(r"^(?:perf|quality|quality_idle|fidelity|server|timing|knob)/[A-Za-z0-9_./]+$")
FILE_RE = re.compile(r"\.(?:jsonl?|ya?ml|png|csv|txt|html|py|md)$")
"""A file's path (an artifact such as `fidelity/reference.jsonl`, a module such as `server/readiness.py`), not a metric name."""


def _metric_names(text: str) -> set[str]:
    names = re.findall(r"`((?:perf|quality|quality_idle|fidelity|server|timing|knob)/[A-Za-z0-9_./]+)`", text)
    # a module path (`server/engines`, `server/readiness.py`) names a folder or file of the package, not a metric
    return {n for n in names if not FILE_RE.search(n) and not (REPO / "harness" / n.rstrip("/")).exists()}

LM_EVAL = {
    "results": {
        "harness_gsm8k": {"exact_match,strict-match": 0.40, "exact_match_stderr,strict-match": 0.05,
                          "exact_match,flexible-extract": 0.55, "exact_match_stderr,flexible-extract": 0.05},
        "harness_ifeval": {"prompt_level_strict_acc,none": 0.30, "prompt_level_strict_acc_stderr,none": 0.04,
                           "inst_level_strict_acc,none": 0.40, "inst_level_strict_acc_stderr,none": "N/A",
                           "prompt_level_loose_acc,none": 0.35, "inst_level_loose_acc,none": 0.45},
    },
    "n-samples": {"harness_gsm8k": {"original": 1319, "effective": 20}, "harness_ifeval": {"original": 541, "effective": 20}},
}
PLANS = [TaskPlan("gsm8k", "harness_gsm8k", "gsm8k", "hub", 5), TaskPlan("ifeval", "harness_ifeval", "ifeval", "hub", 0)]
LLAMACPP_METRICS = """# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total {p}
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total {g}
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing {busy}
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 0
"""


def _records(t0: float, n: int = 30) -> list[RequestRecord]:
    out = []
    for i in range(n):
        ttft = 0.05 + 0.01 * (i % 7)
        chunks = [ttft + 0.02 * k for k in range(16)]
        ok = i % 10 != 9
        out.append(RequestRecord(t_start=t0 + 0.1 * i, ok=ok, status=200 if ok else 500, error=None if ok else "HTTP 500: boom",
                                 ttft_s=ttft if ok else None, chunk_offsets_s=chunks if ok else [], e2e_s=chunks[-1] + 0.01,
                                 prompt_tokens=100, completion_tokens=16 if ok else None, max_tokens=16, output_chars=64,
                                 finish_reason="length", t_scheduled=t0 + 0.1 * i - 0.001, send_lag_s=0.001))
    return out


def _quality(folder: Path, duration: float) -> QualityResult:
    scores, counts = parse_results(LM_EVAL, PLANS)
    return QualityResult(scores, counts, PLANS, folder / "results.json", [], duration, folder / "lm_eval.log", quality_flags(scores))


def _tiny_gguf(folder: Path) -> Path:
    """A real (tiny) GGUF, so the model facts the roofline reads (layers, KV heads, head size) are logged."""
    import gguf
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_embedding_length(8)
    w.add_context_length(64)
    w.add_tensor("token_embd.weight", np.zeros((16, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _fidelity(folder: Path):
    """A real comparison of two passes (the second differs on half the prompts), as the fidelity stage makes it."""
    from harness.fidelity.compare import compare
    from harness.fidelity.records import Generation
    from harness.fidelity.stage import FidelityResult
    from harness.spec.fidelity import FidelitySpec

    def gen(i: int, ids: list[int]) -> Generation:
        top = tuple(((f"t{t}", t, -0.2), (f"t{t + 1}", t + 1, -2.0)) for t in ids)
        return Generation(f"p{i}", f"prompt {i}", "", "length", tuple(f"t{t}" for t in ids), tuple(ids), (-0.2,) * len(ids), top)

    ref = {f"p{i}": gen(i, [1, 2, 3]) for i in range(8)}
    floor = compare(ref, ref.values(), bootstrap=50)
    other = compare(ref, [gen(i, [1, 2, 3] if i % 2 else [1, 5, 5]) for i in range(8)], bootstrap=50)
    return FidelityResult("variant", other, None, folder / "fidelity" / "generations.jsonl", 8, 8, 3.0, FidelitySpec(),
                          ["compared up to the first differing token"], [], folder.parent / "base" / "reference.jsonl"), floor


def _outcome(variant, spec, folder: Path, scrapes: tuple[str, str], failure: Failure | None = None) -> VariantOutcome:
    folder.mkdir(parents=True)
    (folder / "note.txt").write_text("raw files of the variant")
    t0 = 1_700_000_000.0
    records = _records(t0)
    # what the real Locust runner adds to the window's summary: the warm-up measured, CPU steal, the client loop's lag
    summary = replace(summarize(records, t0 + 0.5, t0 + 3.0, spec.load.slo), warmup_s=0.5, host_steal_pct=0.0,
                      client_lag_ms=Distribution.of_seconds([0.0004, 0.0005, 0.0007]))
    load = LoadResult(summary, records, t0 + 0.5, t0 + 3.0, 0,
                      LoadArtifacts.in_folder(folder / "load"))
    # a capacity search's result: by rate for the llama.cpp variants, by users (closed loop) for the vLLM one
    by_users = variant.server.kind == "vllm"
    load.capacity = CapacityAtSLO(None if by_users else 4.0, 8.0 if by_users else None, 3.0, 5.0, True, "one search: its final bracket",
                                  measurements=4)
    before, after = parse_metrics(scrapes[0], t=t0), parse_metrics(scrapes[1], t=t0 + 3)
    server = RunningServer(Endpoint("http://127.0.0.1:1", "m", engine=variant.server.kind, info={"server_version": "b1"}),
                           ResolvedModel(variant.server.model, str(_tiny_gguf(folder)), "ab" * 32), ["llama-server", "-m", "m"],
                           ["X"], {"GGML_X": "1"}, None, 1.5)
    scrape = ScrapeResult(summarize_scrapes(before, after, [before, after]), 2, 0, folder / "metrics.jsonl", series=(before, after))
    out = VariantOutcome(variant, folder, server, load, _quality(folder, 30.0), _quality(folder, 10.0), scrape, duration_s=60.0)
    out.fidelity, out.fidelity_floor = _fidelity(folder)
    if failure is not None:
        out.failures = [failure]
    return out


@pytest.fixture(scope="module")
def logged(tmp_path_factory, vllm_fixtures):
    from harness.tracking.mlflow_logger import SweepLogger

    tmp = tmp_path_factory.mktemp("contract")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    spec = build_spec({"name": "contract", "tracking": {"uri": uri, "experiment": "contract"},
                       "load": {"slo": {"ttft_ms": 80}},
                       "variants": [{"name": "p4", "server": {"llamacpp": {"parallel": 4}}},
                                    {"name": "v", "server": {"kind": "vllm", "model": "hf://org/Llama-3.1-8B-Instruct",
                                                             "vllm": {"max_num_seqs": 64, "enable_chunked_prefill": True}}},
                                    {"name": "dies", "server": {"llamacpp": {"parallel": 2}}}]}, {}, [])
    p4, v, dies = resolve_variants(spec)
    llama = (LLAMACPP_METRICS.format(p=0, g=0, busy=0), LLAMACPP_METRICS.format(p=3000, g=480, busy=4))
    vllm = ((vllm_fixtures / "metrics_idle.txt").read_text(), (vllm_fixtures / "metrics_after_load.txt").read_text())
    died = Failure("server", "llama-server exited during the load", "ServerExitedError", 1, "out of memory", "ggml: OOM")
    log = SweepLogger(spec, [p4, v, dies])
    parent = log.start_sweep(tmp / "run")
    for variant, scrapes, failure in ((p4, llama, None), (v, vllm, None), (dies, llama, died)):
        rid = log.start_variant(variant)
        log.finish_variant(rid, _outcome(variant, spec, tmp / "run" / variant.name, scrapes, failure))
    log.end_sweep(failed=True)
    return uri, parent, read_runs(uri, [parent])


def _consumer_names() -> dict[str, set[str]]:
    from harness.report.compare import COLUMNS
    from harness.report.decision import SIGNIFICANCE_METRICS

    rec = GatesSpec().recommend
    literals = set()
    for folder in ("report", "gates"):
        for path in (REPO / "harness" / folder).glob("*.py"):
            literals |= {n.value for n in ast.walk(ast.parse(path.read_text()))
                         if isinstance(n, ast.Constant) and isinstance(n.value, str) and FAMILY_RE.match(n.value) and not FILE_RE.search(n.value)}
    page = (REPO / "docs" / "tracking.md").read_text()  # the README's MLflow section lives here
    section = page[page.index("## MLflow UI"):]
    section = section[: section.index("\n## ", 4)]
    return {
        "compare COLUMNS": {m for m, _, _ in COLUMNS},
        "decision significance": set(SIGNIFICANCE_METRICS),
        "gates defaults": {rec.objective, rec.quality_metric, rec.throughput_metric, rec.latency_metric},
        "contract constants": {v for v in vars(contract).values() if isinstance(v, contract.MetricName)},
        "literals in report/ and gates/": literals,
        "docs/tracking.md MLflow section": _metric_names(section),
    }


def test_every_name_a_consumer_reads_is_logged_by_the_writer(logged):
    _, _, runset = logged
    written = set().union(*(r.metrics for r in runset.runs))
    missing = {who: sorted(names - written) for who, names in _consumer_names().items() if names - written}
    assert not missing
    assert len(_consumer_names()["docs/tracking.md MLflow section"]) >= 10


def test_everything_the_writer_logs_is_in_the_contract(logged):
    _, _, runset = logged
    for r in runset.runs:
        assert [m for m in r.metrics if not contract.is_metric(m)] == []
        assert [p for p in r.params if not contract.is_param(p)] == []
        known = {v for k, v in vars(Tag).items() if not k.startswith("_")}
        assert sorted(t for t in r.tags if t.startswith("harness.") and t not in known) == []
    docs = " ".join(p.read_text() for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])
    named = _metric_names(docs)
    assert [n for n in named if not contract.is_metric(n)] == []


def test_every_metric_the_writer_logs_has_a_declared_direction(logged):
    """Each logged metric's fact is a lookup (declared next to its value, lm-eval's for a score): none is guessed,
    none is missing (a new result field without a fact fails here)."""
    _, _, runset = logged
    written = sorted(set().union(*(r.metrics for r in runset.runs)))
    assert len(written) > 100
    assert [m for m in written if contract.fact(m) is None] == []
    assert not contract.higher_is_better("perf/reconnects") and not contract.higher_is_better("server/preemptions")


def test_every_series_the_writer_logs_is_metric_history_in_the_contract(logged):
    from harness.tracking.store import client

    uri, _, runset = logged
    c = client(uri)
    for r in runset.runs:
        logged_names = set(c.get_run(r.run_id).data.metrics)
        series = sorted(n for n in logged_names if n.startswith("series/"))
        assert series and [n for n in series if not contract.is_series(n)] == []
        assert not set(r.metrics) & set(series)  # the reader keeps them out of the run's values
        ttft = c.get_metric_history(r.run_id, contract.SERIES_TTFT_P95_MS)
        assert len(ttft) >= 2 and [m.step for m in ttft] == sorted(m.step for m in ttft)
        assert len(c.get_metric_history(r.run_id, contract.SERIES_REQUESTS_RUNNING)) == 1  # the one scrape inside the window
    docs = " ".join(p.read_text() for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])
    named = set(re.findall(r"`(series/[A-Za-z0-9_./]+)`", docs))
    assert named and [n for n in named if not contract.is_series(n)] == []


def test_failure_tags_and_status(logged):
    _, _, runset = logged
    by = {r.name: r for r in runset.runs}
    assert by["dies"].failed and by["dies"].tags[Tag.FAILED_STAGE] == "server"
    assert by["dies"].error.startswith("[server] llama-server exited during the load\nexit code: 1\nlikely cause: out of memory")
    assert not by["p4"].failed and Tag.ERROR not in by["p4"].tags and Tag.FAILED_STAGE not in by["p4"].tags


def test_compare_publish_gate_read_the_runs_once(logged, tmp_path, monkeypatch):
    from harness.gates.check import check_gates
    from harness.report.compare import compare
    from harness.report.publish import publish

    uri, parent, runset = logged

    def no_second_read(*a, **kw):
        raise AssertionError("MLflow runs read a second time")

    monkeypatch.setattr(RunStore, "load_runs", no_second_read)
    monkeypatch.setattr(RunStore, "__init__", no_second_read)
    table = compare(runset)
    assert table.parent_run_id == parent and sorted(table.table.index) == ["dies", "p4", "v"]
    assert table.table.loc["dies", "status"] == "failed"
    # the fixture fails 1 request in 10: above the default degraded bound (5%), so allow it here
    gates = GatesSpec.model_validate({"slo": {contract.TTFT_P95_MS: {"max": 500}}, "recommend": {"max_error_rate": 0.2}})
    published = publish(tmp_path / "report", runset, gates=gates, baseline_variant="p4")
    assert published.logged_to == parent and published.report.recommendation.chosen in ("p4", "v")
    decisions = (tmp_path / "report" / "decisions.csv").read_text()  # the knob table, from the logged params
    assert "v,kind: llamacpp -> vllm;" in decisions and "vllm.max_num_seqs" not in decisions and "max_num_seqs: default -> 64" in decisions
    outcome = check_gates(runset, tmp_path / "gate", gates)
    assert outcome.logged and outcome.report.verdict == "run failed"
    monkeypatch.undo()
    store = RunStore(uri)
    tags = store.client.get_run(parent).data.tags
    assert tags[Tag.GATE] == "run failed" and tags[Tag.RECOMMENDED] == published.report.recommendation.chosen
    assert store.spec_section(parent)["name"] == "contract" and store.gates_of_sweep(parent).empty
    # a store copied without its artifact folder: said, with the fix, never read as "no spec logged" (default gates)
    from urllib.parse import urlparse

    from harness.errors import ArtifactNotFound

    root = Path(urlparse(store.client.get_run(parent).info.artifact_uri).path)
    moved = root.with_name(root.name + ".moved")
    root.rename(moved)
    try:
        with pytest.raises(ArtifactNotFound, match="without its artifact folder.*--gates SPEC.yaml"):
            RunStore(uri).gates_of_sweep(parent)
    finally:
        moved.rename(root)
    # the per-prompt fidelity rows are an MLflow table of each variant run
    p4 = next(r for r in runset.runs if r.name == "p4")
    assert '"path": "fidelity/prompts.json", "type": "table"' in store.client.get_run(p4.run_id).data.tags["mlflow.loggedArtifacts"]
