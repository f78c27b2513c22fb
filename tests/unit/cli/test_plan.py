"""`harness plan SPEC --from-experiment NAME`: the variance a past sweep logged (or its repeats), turned into the blocks
and the wall time a decision at the target margin needs, and the targets out of reach of max_blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from mlflow.entities import Metric

METRIC = "perf/output_tokens_per_s"
RPS = "perf/requests_per_s"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """A sweep as the harness logs it: a sweep run with the variance of the target metric, two variant runs (ok) and
    their repeat runs tagged with the block, 6 blocks of b at log-ratio sd ~0.13 on requests/s (not logged: recomputed)."""
    from mlflow.tracking import MlflowClient

    tmp = tmp_path_factory.mktemp("plan")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    c = MlflowClient(tracking_uri=uri)
    eid = c.create_experiment("past")
    sweep = c.create_run(eid, tags={"harness.kind": "sweep"}).info.run_id
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        v = c.create_run(eid, tags={"harness.kind": "variant", "harness.variant": name, "harness.status": "ok",
                                    "mlflow.parentRunId": sweep}).info.run_id
        for b in range(6):
            r = c.create_run(eid, tags={"harness.kind": "repeat", "harness.variant": name, "harness.status": "ok",
                                        "harness.block": str(b), "mlflow.parentRunId": v}).info.run_id
            noise = math.exp(rng.normal(0, 0.13)) if name == "b" else 1.0
            c.log_batch(r, metrics=[Metric(METRIC, 100.0 * noise, 0, 0), Metric(RPS, 2.0 * noise, 0, 0),
                                    Metric("timing/variant_s", 30.0, 0, 0)])
            c.set_terminated(r)
        c.set_terminated(v)
    c.log_batch(sweep, metrics=[Metric(f"repeats/log_ratio_sd/{METRIC}", 0.03, 0, 0),
                                Metric(f"repeats/split_half_sd/{METRIC}", 0.01, 0, 0), Metric("repeats/block_s", 60.0, 0, 0)])
    c.set_terminated(sweep)
    return uri


def _spec(tmp_path, margin: float) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"name": "plan-me", "variants": [{"name": "a"}, {"name": "b"}],
                                    "repeats": {"target": {"metric": METRIC, "margin": margin}, "max_blocks": 20, "looks": 4}}))
    return str(path)


def test_plan_from_a_past_sweeps_logged_variance_says_blocks_time_and_reach(tmp_path, capsys, store):
    from harness.cli import main

    assert main(["plan", _spec(tmp_path, 0.05), "--from-experiment", "past", "--tracking-uri", store]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith(f"{METRIC} (target"))
    # the logged sd 0.03 at +-5%: 6 blocks to detect, 5 to show equivalence (harness.stats.plan), 6 x 60 s
    assert "log-ratio sd 0.0300" in line and "6 blocks to detect, 5 to show equivalence, ~6.0 min: reachable" in line, out
    assert "split-half sd 0.0100" in line and "per block: 60 s" in out and "out of reach within" not in out
    # a headline metric the sweep did not log a variance for: recomputed from its 6 blocks of repeats
    rps = next(x for x in out.splitlines() if x.strip().startswith(f"{RPS} (headline"))
    sd = float(rps.split("log-ratio sd ")[1].split()[0])
    expected = np.std(np.random.default_rng(0).normal(0, 0.13, 6), ddof=1)  # the draws the store's b got
    assert sd == pytest.approx(expected, abs=1e-4) and "(n=6" in rps, rps


def test_plan_names_a_target_out_of_reach_of_max_blocks(tmp_path, capsys, store):
    from harness.cli import main

    assert main(["plan", _spec(tmp_path, 0.01), "--from-experiment", "past", "--tracking-uri", store]) == 0
    out = capsys.readouterr().out
    assert f"out of reach within max_blocks 20: {METRIC}: raise max_blocks" in out, out


def test_a_pilot_of_fewer_than_two_blocks_is_refused(tmp_path):
    from harness.cli import main

    assert main(["plan", _spec(tmp_path, 0.05), "--pilot-blocks", "1"]) == 2
