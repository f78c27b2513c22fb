"""load.capacity and load.requests in the spec, and the CapacitySearch stage's bookkeeping over stand-in load runs.

The stand-in runs are the only fake: each "measures" a server whose TTFT is 50 ms up to a known capacity and
500 ms beyond it (or, with `curve`, follows a smooth curve), through the real summarize / meets / point_slo_ratio /
find_capacity / capacity_interval.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import pytest

from harness.errors import Failure, LoadError, SpecError
from harness.load.capacity import CapacitySearch, point_slo_ratio
from harness.load.records import RequestRecord
from harness.load.runner import LoadArtifacts, LoadResult
from harness.load.stats import summarize
from harness.server.endpoint import Endpoint
from harness.spec import build_spec
from harness.facts import CAPACITY_SEARCHES
from harness.spec.capacity import CapacitySearchSpec
from harness.spec.load import LoadSpec
from harness.stage import Progress
from harness.stats.capacity import DEFAULT_CAPACITY_SEARCHES
from harness.tracking import contract

EP = Endpoint(base_url="http://127.0.0.1:9", model="m", engine="openai")
SLO = {"ttft_ms": 200, "min_attainment": 0.9}


def _problems(load: dict) -> str:
    with pytest.raises(SpecError) as info:
        build_spec({"name": "x", "load": load}, {}, [])
    return "\n".join(info.value.problems)


# ------------------------------------------------------------------ spec

def test_capacity_spec_mirrors_the_stats_defaults_and_describes_every_field():
    assert CAPACITY_SEARCHES == DEFAULT_CAPACITY_SEARCHES
    c = CapacitySearchSpec(lo=1, hi=64)
    assert (c.start, c.tolerance, c.max_steps, c.repeats, c.searches) == (None, 0.1, 12, 1, DEFAULT_CAPACITY_SEARCHES)
    assert all(f.description for f in CapacitySearchSpec.model_fields.values())
    for name in ("capacity", "requests"):
        assert LoadSpec.model_fields[name].description


@pytest.mark.parametrize(
    "load,needle",
    [
        ({"pattern": "constant", "capacity": {"lo": 1, "hi": 8}, "rate_scan": {"points": [1, 2]}, "slo": SLO}, "alternatives"),
        ({"pattern": "steps", "steps": [{"duration_s": 10, "users": 1}], "capacity": {"lo": 1, "hi": 8}, "slo": SLO}, "needs pattern closed"),
        ({"capacity": {"lo": 1, "hi": 8.5}, "slo": SLO}, "whole numbers"),
        ({"pattern": "poisson", "capacity": {"lo": 1, "hi": 8}}, "needs an SLO"),
        ({"pattern": "poisson", "capacity": {"lo": 8, "hi": 8}, "slo": SLO}, "need lo < hi"),
        ({"pattern": "poisson", "capacity": {"lo": 1, "hi": 8, "start": 9}, "slo": SLO}, "must lie within"),
        ({"pattern": "poisson", "capacity": {"lo": 1, "hi": 8, "searches": 0}, "slo": SLO}, "load.capacity.searches"),
        ({"pattern": "constant", "rate": 2, "requests": 100, "duration_s": 30}, "raise duration_s"),
        ({"pattern": "poisson", "capacity": {"lo": 0.5, "hi": 8}, "slo": SLO, "requests": 100, "duration_s": 60}, "at 0.5 req/s"),
        ({"pattern": "steps", "steps": [{"duration_s": 5, "users": 1}], "requests": 10}, "does not apply to pattern=steps"),
        ({"requests": 0}, "load.requests"),
    ],
)
def test_bad_capacity_and_request_specs_name_the_fix(load, needle):
    text = _problems(load)
    assert needle in text and "load" in text


def test_open_loop_capacity_needs_no_rate_and_points_drop_the_search():
    spec = LoadSpec(pattern="poisson", capacity={"lo": 1, "hi": 16}, slo=SLO)
    at = spec.at_point(5.5)
    assert at.rate == 5.5 and at.capacity is None and at.rate_scan is None
    assert LoadSpec(capacity={"lo": 1, "hi": 16}, slo=SLO).at_point(4).users == 4


def test_requests_make_the_duration_a_cap_and_drop_the_warmup_unless_given():
    spec = LoadSpec(pattern="constant", rate=10, requests=50)
    assert (spec.warmup_s, spec.duration_s) == (0, 3600) and spec.requests == 50
    own = LoadSpec(pattern="constant", rate=10, requests=50, warmup_s=2, duration_s=20)
    assert (own.warmup_s, own.duration_s) == (2, 20)
    assert LoadSpec.model_validate_json(own.model_dump_json()) == own  # what the Locust process reads back
    assert LoadSpec().requests is None and LoadSpec().warmup_s == 5


# ------------------------------------------------------------------ the stage, over stand-in runs

class _Run:
    """A load run's interface; its result is what a server with `capacity` would give at the spec's point."""

    made: list["_Run"] = []

    def __init__(self, capacity: float, spec: LoadSpec, folder: Path, hold_from: int | None = None, fail_at: float | None = None,
                 curve: float | None = None):
        self.capacity, self.spec, self.folder, self.fail_at, self.curve = capacity, spec, folder, fail_at, curve
        self.hold = hold_from is not None and len(_Run.made) >= hold_from  # runs until stopped
        self.point = float(spec.users if spec.pattern == "closed" else spec.rate)
        self.stopped = False
        _Run.made.append(self)

    def start(self) -> "_Run":
        self.folder.mkdir(parents=True)
        return self

    def running(self) -> bool:
        return self.hold and not self.stopped

    def progress(self) -> Progress:
        return Progress("load", 1, 2, "s", "3 requests")

    def stop(self) -> None:
        self.stopped = True

    def finish(self) -> LoadResult:
        if self.fail_at is not None and self.point >= self.fail_at:
            raise LoadError("Locust exited with code 2")
        ttft = 0.05 if self.point <= self.capacity else 0.5
        if self.curve is not None:  # TTFT = the 200 ms SLO * (point / capacity) ** curve: log-linear in log(point)
            ttft = 0.2 * (self.point / self.capacity) ** self.curve
        recs = [RequestRecord(t_start=100.0 + i, ok=True, ttft_s=ttft, e2e_s=ttft + 0.1, completion_tokens=8, prompt_tokens=4)
                for i in range(20)]
        out = LoadResult(summarize(recs, 100.0, 200.0, self.spec.slo), recs, 100.0, 200.0, 0, LoadArtifacts.in_folder(self.folder))
        if self.point == 32:
            out.failures = [Failure("load", "load.requests: only 19 of 20 requests were sent", "LoadError")]
        return out


def _search(tmp_path: Path, true_capacity: float, **load) -> CapacitySearch:
    _Run.made = []
    kw = {k: load.pop(k) for k in ("hold_from", "fail_at", "curve") if k in load}
    spec = LoadSpec(**{"slo": SLO, **load})
    return CapacitySearch(spec, EP, tmp_path, lambda s, e, f: _Run(true_capacity, s, f, **kw))


def _run(stage: CapacitySearch) -> LoadResult:
    stage.start()
    while stage.running():
        time.sleep(0.01)
    return stage.finish()


def test_open_loop_search_brackets_the_capacity_and_logs_it(tmp_path):
    result = _run(_search(tmp_path, 10.0, pattern="constant", capacity={"lo": 1, "hi": 64}))
    cap = result.capacity
    assert cap is not None and cap.users is None and len(cap.searches) == 3 and cap.bracketed
    assert all(s.contains(10.0) for s in cap.searches)
    assert cap.low <= 10.0 <= cap.high and 8 < cap.rate <= 11.5 and cap.censored == ""
    assert cap.rate == pytest.approx(float(sorted(s.estimate for s in cap.searches)[1]))  # the median of the crossings
    # every measurement is kept, by point, each in its own folder with a fresh seed
    assert len(result.scan) == cap.measurements == len(_Run.made) == sum(s.measurements for s in cap.searches)
    assert [p.point for p in result.scan] == sorted(p.point for p in result.scan)
    assert sorted(r.folder.name for r in _Run.made) == sorted(f"capacity-{k}-{r.point:g}" for k, r in enumerate(_Run.made, 1))
    assert [r.spec.seed for r in _Run.made] == list(range(1, len(_Run.made) + 1))
    # the headline is the highest passing point measured, not above the capacity
    passing = [p.point for p in result.scan if p.meets_slo]
    assert result.max_point_meeting_slo == max(x for x in passing if x <= cap.rate)
    assert result is next(p.result for p in result.scan if p.point == result.max_point_meeting_slo)
    m = result.flat_metrics()
    assert m["perf/capacity_rps_at_slo"] == cap.rate and m["perf/capacity_rps_at_slo_ci_low"] == cap.low
    assert m["perf/capacity_rps_at_slo_ci_high"] == cap.high and m["perf/capacity_bracketed"] == 1.0
    assert m["perf/capacity_searches"] == 3 and "perf/capacity_users_at_slo" not in m
    assert m["perf/capacity_censored"] == 0 and "perf/capacity_censored_at" not in m
    assert m["perf/ttft_p50_ms"] == pytest.approx(50) and m["perf/goodput_per_s"] > 0  # at the chosen point
    assert all(contract.is_metric(k) for k in m)  # the contract knows every name, scan points included
    assert not result.failures


def test_every_points_partial_failures_reach_the_result(tmp_path):
    result = _run(_search(tmp_path, 20.0, pattern="constant", capacity={"lo": 1, "hi": 64, "searches": 1, "start": 16}))
    assert 32 in [p.point for p in result.scan] and result.max_point_meeting_slo != 32
    assert [f.message for f in result.failures] == ["capacity point 32: load.requests: only 19 of 20 requests were sent"]


def test_closed_loop_search_counts_users_in_whole_numbers(tmp_path):
    result = _run(_search(tmp_path, 6.0, capacity={"lo": 1, "hi": 32, "searches": 1, "tolerance": 0.05}))
    cap = result.capacity
    (search,) = cap.searches
    assert cap.rate is None and (cap.low, cap.high) == (6, 7) and cap.method.startswith("one search: the log-log crossing")
    # TTFT 50 ms (ratio 0.25) at 6 users, 500 ms (2.5) at 7: the SLO limit is crossed at 6 * (7/6) ** (log 4 / log 10)
    assert cap.users == pytest.approx(6 * (7 / 6) ** (math.log(4) / math.log(10))) == search.estimate
    assert all(p.point == int(p.point) for p in result.scan) and result.max_point_meeting_slo == 6
    m = result.flat_metrics()
    assert (m["perf/capacity_users_at_slo"], m["perf/capacity_users_at_slo_ci_high"]) == (cap.users, 7) and "perf/capacity_rps_at_slo" not in m


@pytest.mark.parametrize("searches", [1, 3])
def test_every_search_reports_the_crossing_so_the_estimand_does_not_depend_on_searches(tmp_path, searches):
    """TTFT rises as a power of the rate (log-linear): the crossing of the SLO limit is the true capacity exactly,
    from one search and from the median of three, though the brackets around it differ."""
    result = _run(_search(tmp_path, 10.0, pattern="constant", curve=3.0, capacity={"lo": 1, "hi": 64, "searches": searches}))
    cap = result.capacity
    assert len(cap.searches) == searches and all(s.estimate == pytest.approx(10.0, rel=1e-9) for s in cap.searches)
    assert cap.rate == pytest.approx(10.0, rel=1e-9) and cap.low < 10.0 < cap.high
    steps = [st for s in cap.searches for st in s.steps]
    assert all(r.slo_ratio == pytest.approx((st.point / 10.0) ** 3) for st in steps for r in st.results)


def test_slo_ratio_is_at_most_one_exactly_when_the_point_passes(tmp_path):
    """Random windows (seeded, 400): requests with TTFT / TPOT / e2e around their bounds, some failed, some without
    a TPOT, some outside the window or cut by a stop: `point_slo_ratio` <= 1 exactly when `meets` passes the point."""
    from harness.load.scan import meets
    from harness.load.stats import INTERRUPTED_KIND
    from harness.spec.load import SLOSpec

    rng = random.Random(7)
    agree = passing = used = 0
    for _ in range(400):
        slo = SLOSpec(ttft_ms=rng.choice([None, 100.0]), tpot_ms=rng.choice([None, 20.0]), e2e_ms=rng.choice([None, 1000.0]),
                      min_attainment=rng.choice([0.5, 0.9, 0.95, 1.0]), max_error_rate=rng.choice([0.0, 0.01, 0.1]))
        if slo.ttft_ms is None and slo.tpot_ms is None and slo.e2e_ms is None:
            slo = slo.model_copy(update={"ttft_ms": 100.0})
        recs = []
        for i in range(rng.randint(1, 30)):
            t = rng.uniform(0.5, 11.0)
            if rng.random() < 0.05:
                recs.append(RequestRecord(t_start=t, ok=False, error=rng.choice(["HTTP 500", f"{INTERRUPTED_KIND} stop"])))
                continue
            ttft = rng.uniform(0.02, 0.15)
            n = rng.choice([1, 8])
            e2e = ttft + (n - 1) * rng.uniform(0.01, 0.03) + rng.uniform(0, 0.5)
            recs.append(RequestRecord(t_start=t, ok=True, ttft_s=ttft, e2e_s=e2e, completion_tokens=n, prompt_tokens=4))
        summary = summarize(recs, 1.0, 10.0, slo)
        if summary.requests == 0:
            continue
        res = LoadResult(summary, recs, 1.0, 10.0, 0, LoadArtifacts.in_folder(tmp_path))
        ok, ratio = meets(summary, slo), point_slo_ratio(res, slo)
        agree += ok == (ratio <= 1.0)
        passing += ok
        used += 1
    assert agree == used >= 300 and 0.2 * used < passing < 0.8 * used, (agree, passing, used)


def test_slo_failing_at_lo_is_censored_below_never_zero(tmp_path):
    result = _run(_search(tmp_path, 0.5, pattern="poisson", capacity={"lo": 1, "hi": 16}))
    cap = result.capacity
    assert (cap.censored, cap.bound, cap.bracketed, cap.label) == ("below", 1.0, False, "< 1 req/s") and math.isnan(cap.rate)
    assert result.max_point_meeting_slo is None and result is [p.result for p in result.scan if p.point == 1][-1]
    m = result.flat_metrics()
    assert (m["perf/capacity_censored"], m["perf/capacity_censored_at"], m["perf/capacity_bracketed"]) == (-1, 1, 0)
    assert not any(k.startswith("perf/capacity_rps_at_slo") for k in m)  # no value: nothing can take its ratio
    assert "perf/scan/max_point_meeting_slo" not in m  # no point met the SLOs: no value, never a rate of 0
    assert all(contract.is_metric(k) for k in m)


def test_slo_holding_at_hi_is_censored_above(tmp_path):
    result = _run(_search(tmp_path, 100.0, pattern="poisson", capacity={"lo": 1, "hi": 16, "searches": 1}))
    cap = result.capacity
    assert (cap.censored, cap.bound, cap.bracketed, cap.label) == ("above", 16, False, ">= 16 req/s") and math.isnan(cap.rate)
    assert result.max_point_meeting_slo == 16
    m = result.flat_metrics()
    assert (m["perf/capacity_censored"], m["perf/capacity_censored_at"]) == (1, 16)
    assert not any(k.startswith("perf/capacity_rps_at_slo") for k in m)


def test_stop_ends_the_run_in_flight_and_keeps_what_was_measured(tmp_path):
    stage = _search(tmp_path, 10.0, pattern="constant", capacity={"lo": 1, "hi": 64}, hold_from=2).start()
    while len(_Run.made) < 3:  # two measurements done, the third one in flight until stopped
        time.sleep(0.01)
    time.sleep(0.05)
    t = time.time()
    assert stage.running() and isinstance(stage.progress(), Progress) and time.time() - t < 0.05  # non-blocking
    in_flight = _Run.made[-1]
    stage.stop()
    result = stage.finish()
    assert in_flight.stopped and not stage.running() and len(_Run.made) == 3  # nothing started after stop()
    assert len(result.scan) == 3 and result.capacity.measurements == 3 and not result.capacity.searches
    assert any("0 of 3 searches completed" in f.message for f in result.failures)
    assert math.isnan(result.capacity.rate) and "perf/capacity_rps_at_slo" not in result.flat_metrics()
    first = _search(tmp_path / "b", 10.0, pattern="constant", capacity={"lo": 1, "hi": 64}, hold_from=0).start()
    while not _Run.made:
        time.sleep(0.01)
    first.stop()
    partial = first.finish()  # stopped during the first measurement: what it measured is still the result
    assert [p.point for p in partial.scan] == [_Run.made[0].point] and partial.max_point_meeting_slo is None


def test_a_failed_measurement_ends_the_search_with_a_failure(tmp_path):
    result = _run(_search(tmp_path, 10.0, pattern="constant", capacity={"lo": 1, "hi": 64, "searches": 1}, fail_at=16))
    assert any("capacity point 16: Locust exited" in f.message for f in result.failures)
    assert all(p.point < 16 for p in result.scan) and result.max_point_meeting_slo == 8
    with pytest.raises(LoadError, match="no load point finished"):
        _run(_search(tmp_path / "b", 10.0, pattern="constant", capacity={"lo": 1, "hi": 64}, fail_at=1))
