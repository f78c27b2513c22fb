"""A team's kind of tracking server: a real `mlflow server` on a PostgreSQL backend store with proxied artifacts.

PostgreSQL (Debian's `postgresql`, installed by .ci/run) runs as a private cluster made for the test (initdb as
the `postgres` user when the tests run as root); psycopg2 (the `test` extra) connects MLflow to it. A sweep of
the fake llama-server through `harness run` is logged over HTTP; the runs, the artifacts (uploaded through the
server into its --artifacts-destination), the metric history of the time series (in PostgreSQL's own tables),
`harness compare` over HTTP, and the MLflow UI in headless Chromium (the runs page with the sweep, the metric page
with a series of both variants plotted over steps; screenshots beside the DOM) are checked.
Skipped, with the reason, where PostgreSQL or psycopg2 is missing or the cluster cannot start.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest

from tests.fakes.harness_run import fake_spec, wait_for

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
DB_USER, DB_NAME = "harness", "mlflow"


def _pg_binary(name: str) -> str | None:
    """`initdb` / `postgres` on PATH, else Debian's versioned folder (/usr/lib/postgresql/<v>/bin)."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    return versions[-1] if versions else None


@dataclass
class Postgres:
    port: int
    folder: Path

    @property
    def uri(self) -> str:
        # the driver named: SQLAlchemy 2.1's plain `postgresql://` means psycopg 3, not psycopg2
        return f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    def query(self, sql: str) -> list[tuple]:
        import psycopg2

        with psycopg2.connect(host="127.0.0.1", port=self.port, user=DB_USER, dbname=DB_NAME) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()


@pytest.fixture()
def postgres() -> Iterator[Postgres]:
    """A private PostgreSQL cluster on 127.0.0.1 (trust auth, its own socket folder), removed afterwards."""
    pytest.importorskip("psycopg2", reason="psycopg2 not installed (pip install '.[test]' installs psycopg2-binary)")
    import psycopg2

    from harness.server.launch import free_port

    initdb, server = _pg_binary("initdb"), _pg_binary("postgres")
    if initdb is None or server is None:
        pytest.skip("PostgreSQL not installed (apt-get install postgresql; .ci/run does)")
    as_user: dict = {}
    folder = Path(tempfile.mkdtemp(prefix="harness-pg-"))  # /tmp: reachable by the postgres user, unlike pytest's root-only tmp
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: the cluster belongs to the postgres user
        try:
            pg = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip("running as root and there is no 'postgres' user to own the cluster")
        os.chown(folder, pg.pw_uid, pg.pw_gid)
        as_user = {"user": pg.pw_uid, "group": pg.pw_gid, "extra_groups": []}
    data, log = folder / "data", folder / "postgres.log"
    init = subprocess.run([initdb, "-D", str(data), "-U", DB_USER, "--auth=trust", "-E", "UTF8"], capture_output=True, text=True,
                          timeout=180, cwd=folder, **as_user)
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed: {(init.stderr or init.stdout).strip()[-500:]}")
    port = free_port()
    proc = subprocess.Popen([server, "-D", str(data), "-p", str(port), "-k", str(folder), "-c", "listen_addresses=127.0.0.1",
                             "-c", "fsync=off"], stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True, cwd=folder,
                            **as_user)
    try:
        deadline = time.time() + 120
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=port, user=DB_USER, dbname="postgres")
                break
            except psycopg2.OperationalError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.skip(f"PostgreSQL did not start: {log.read_text()[-800:]}")
                time.sleep(0.3)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DB_NAME}")
        conn.close()
        yield Postgres(port, folder)
    finally:
        proc.terminate()  # smart shutdown; then fast
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def tracking_server(postgres: Postgres, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`mlflow server` on the PostgreSQL store, artifacts proxied into a folder of its own; yields (URL, that folder)."""
    from harness.server.launch import free_port

    port = free_port()
    artifacts = tmp_path / "server-artifacts"
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", postgres.uri, "--artifacts-destination", str(artifacts),
            "--serve-artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    log = tmp_path / "mlflow-server.log"
    proc = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow server exited: {log.read_text()[-3000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, 300, "mlflow server on PostgreSQL to answer /health")  # the first start creates the schema
        yield f"http://127.0.0.1:{port}", artifacts
    finally:
        import signal

        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(30)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        proc.wait(30)


def _chromium(tmp: Path, url: str, name: str, height: int = 1000) -> str:
    """The page's DOM after 20 s of (virtual) time in headless Chromium; a screenshot beside it for a human."""
    base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", f"--user-data-dir={tmp / 'chrome'}", f"--window-size=1600,{height}", "--virtual-time-budget=20000"]
    subprocess.run(base + [f"--screenshot={tmp / (name + '.png')}", url], capture_output=True, timeout=180)
    return subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=180).stdout


def test_a_sweep_on_a_postgresql_tracking_server_with_proxied_artifacts(tmp_path, postgres, tracking_server):
    from mlflow.tracking import MlflowClient

    from harness.tracking import contract

    uri, artifacts = tracking_server
    spec = fake_spec(tmp_path, "team", "  - name: one-slot\n    server: {env: {PYTHONPATH: \"" + str(REPO) + "\", FAKE_SLOTS: \"1\"}}\n"
                     "  - name: four-slots\n    server: {env: {PYTHONPATH: \"" + str(REPO) + "\", FAKE_SLOTS: \"4\"}}",
                     load="{users: 3, duration_s: 10, warmup_s: 1, request_timeout_s: 10}")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env["FAKE_INTERVAL_S"] = "0.05"
    run = subprocess.run([sys.executable, "-m", "harness", "run", str(spec)], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "one-slot" in run.stdout and "four-slots" in run.stdout  # the comparison, read back over HTTP

    c = MlflowClient(tracking_uri=uri)
    exp = c.get_experiment_by_name("team")
    runs = c.search_runs([exp.experiment_id])
    (sweep,) = [r for r in runs if r.data.tags.get("harness.kind") == "sweep"]
    variants = {r.data.tags["harness.variant"]: r for r in runs if r.data.tags.get("harness.kind") == "variant"}
    assert sorted(variants) == ["four-slots", "one-slot"] and sweep.info.status == "FINISHED"
    for v in variants.values():
        assert v.info.status == "FINISHED" and v.data.tags["mlflow.parentRunId"] == sweep.info.run_id
        # artifacts go through the server (mlflow-artifacts:), which stores them in its own destination
        assert v.info.artifact_uri.startswith("mlflow-artifacts:/"), v.info.artifact_uri
        names = {f.path for f in c.list_artifacts(v.info.run_id, "load")}
        assert "load/records.jsonl" in names
        local = c.download_artifacts(v.info.run_id, "load/records.jsonl", str(tmp_path / v.info.run_id))
        assert sum(1 for _ in open(local)) >= v.data.metrics["perf/requests"] > 0
        assert list(artifacts.rglob(f"{v.info.run_id}/artifacts/load/records.jsonl"))  # on the server's side, not here
        # charts over time: the series are metric history with several steps
        tokens = c.get_metric_history(v.info.run_id, contract.SERIES_OUTPUT_TOKENS_PER_S)
        assert len({m.step for m in tokens}) >= 5 and all(m.value >= 0 for m in tokens), tokens
        running = c.get_metric_history(v.info.run_id, contract.SERIES_REQUESTS_RUNNING)
        assert len(running) >= 3 and max(m.value for m in running) >= 1
        assert [m.step for m in c.get_metric_history(v.info.run_id, "perf/output_tokens_per_s")] == [0]
    one = c.get_metric_history(variants["one-slot"].info.run_id, contract.SERIES_REQUESTS_WAITING)
    assert max(m.value for m in one) >= 1  # 3 users on one slot: the others queue, and the chart shows it
    # in PostgreSQL itself
    (count,) = postgres.query("select count(*) from metrics where key like 'series/%'")[0]
    assert count >= 2 * 20
    assert postgres.query("select count(distinct step) from metrics where key = 'series/perf/output_tokens_per_s'")[0][0] >= 5
    # `harness compare` against the team server
    cmp = subprocess.run([sys.executable, "-m", "harness", "compare", "team", "--no-report"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert cmp.returncode == 0 and "one-slot" in cmp.stdout and "out tok/s" in cmp.stdout, cmp.stderr[-3000:]

    if shutil.which("chromium") is None:
        pytest.skip("chromium not installed (apt-get install chromium; .ci/run does): the UI part is not checked")
    dom = _chromium(tmp_path, f"{uri}/#/experiments/{exp.experiment_id}/runs", "runs")
    assert sweep.info.run_name in dom, dom[-3000:]
    # a chart over time: MLflow's metric page plots the series of both variant runs against the step
    key = contract.SERIES_OUTPUT_TOKENS_PER_S
    query = urlencode({"runs": json.dumps([v.info.run_id for v in variants.values()]), "metric": json.dumps(key),
                       "experiments": json.dumps([exp.experiment_id]), "plot_metric_keys": json.dumps([key]), "plot_layout": "{}",
                       "x_axis": "step", "y_axis_scale": "linear", "line_smoothness": "1", "show_point": "false",
                       "deselected_curves": "[]", "last_linear_y_axis_range": "[]"}, quote_via=quote)
    dom = _chromium(tmp_path, f"{uri}/#/metric?{query}", "chart")
    assert key in dom and "scatterlayer" in dom, dom[-3000:]
    assert dom.count('class="trace scatter') >= 2  # one line per variant run
