"""Locust wiring of the web UI's LLM tab, quality and MLflow (inside a Locust process only: imports locust).

Through Locust's supported extension points: start-form fields are custom arguments
(`include_in_web_ui`), the tab is `template_args["extended_tabs"]` / `["extended_tables"]` filled
from `extended_stats` in the `/stats/requests` answer the page polls, and `/llm/stats` is a Flask
route with the same numbers as JSON. Only the process that serves the web UI (the single local
process, or the master of `--processes`) keeps sessions; headless runs (the harness's own) get none.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events

from harness.webui.live import COLUMNS
from harness.webui.session import SessionOptions, WebSession, parse_limit, parse_tasks

TAB = "llm"
DEFAULT_EXPERIMENT = "locust-webui"
log = logging.getLogger(__name__)


class _Sessions:
    """This process's web-UI tests: the latest one is the tab's; earlier ones may still be logging."""

    def __init__(self) -> None:
        self.current: WebSession | None = None
        self.error: str | None = None
        """Why the latest test has no session (bad start-form options)."""
        self.auto_records: str | None = None
        """The `--records` this module set for the previous test (not the user's)."""


_state = _Sessions()


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--quality-tasks", type=str, default="", env_var="HARNESS_QUALITY_TASKS",
                        help="Quality under this load: lm-eval tasks against the same host, e.g. gsm8k or gsm8k,ifeval (empty: none)")
    parser.add_argument("--quality-limit", type=str, default="", env_var="HARNESS_QUALITY_LIMIT",
                        help="Samples per quality task (empty: the whole test set; a limit marks the run as smoke numbers)")
    parser.add_argument("--mlflow-experiment", type=str, default=DEFAULT_EXPERIMENT, env_var="HARNESS_MLFLOW_EXPERIMENT",
                        help="MLflow experiment each test is logged to when it stops, as a `harness run` variant (empty: not logged)")
    parser.add_argument("--mlflow-tracking-uri", type=str, default="", env_var="MLFLOW_TRACKING_URI",
                        help="MLflow tracking URI (empty: SQLite under ./mlruns, as `harness run`)")
    parser.add_argument("--variant", type=str, default="webui", env_var="HARNESS_VARIANT",
                        help="Variant name of the test in MLflow (name it like the server config under test)")
    parser.add_argument("--run-dir", type=str, default="runs", env_var="HARNESS_RUN_DIR", include_in_web_ui=False,
                        help="Folder for each web-UI test's run folder (raw records, Locust reports, lm-eval output)")


def _serves_ui(environment: Any) -> bool:
    return environment.web_ui is not None and type(environment.runner).__name__ in ("LocalRunner", "MasterRunner")


def _options(environment: Any) -> SessionOptions:
    o = environment.parsed_options
    records = o.records if o.records and o.records != _state.auto_records else ""
    return SessionOptions(
        host=environment.host or "", model=o.model, api_key_env=o.api_key_env, load_json=o.harness_load,
        users=int(o.num_users) if o.num_users else None, spawn_rate=float(o.spawn_rate) if o.spawn_rate else None,
        quality_tasks=parse_tasks(o.quality_tasks), quality_limit=parse_limit(o.quality_limit),
        experiment=o.mlflow_experiment.strip(), tracking_uri=o.mlflow_tracking_uri.strip(), run_dir=Path(o.run_dir or "runs"),
        variant=o.variant.strip() or "webui", records=records,
    )


# Registered on import, so before the user class's own test_start listener (added at init): the records path set
# here is the one this process's record writer opens (harness/loadgen/process_state.py).
@events.test_start.add_listener
def _test_start(environment: Any, **_: Any) -> None:
    if not _serves_ui(environment):
        return
    _state.current, _state.error = None, None
    try:
        session = WebSession(_options(environment), time.time())
    except Exception as exc:  # noqa: BLE001 - the test runs anyway; the tab says why it is not recorded
        _state.error = "; ".join(getattr(exc, "problems", None) or [str(exc)])[:1000]
        log.error("harness web UI: this test is not recorded: %s", _state.error)
        return
    _state.current = session
    if session.records_path == session.own_records:
        environment.parsed_options.records = _state.auto_records = str(session.own_records)
    if session.opts.quality_tasks:
        gevent.spawn(session.run_quality)
    log.info("harness web UI: this test's run folder is %s", session.folder)


@events.test_stop.add_listener
def _test_stop(environment: Any, **_: Any) -> None:
    session = _state.current
    if not _serves_ui(environment) or session is None or session.stopped is not None:
        return
    session.stop(time.time())
    try:
        write_locust_reports(environment, session.load_folder)
    except Exception as exc:  # noqa: BLE001 - the records are the measurement; the reports are extras
        log.warning("harness web UI: cannot write Locust's reports: %s", exc)
    gevent.spawn(_finish, session)


def _finish(session: WebSession) -> None:
    try:
        session.finish()
    except Exception as exc:  # noqa: BLE001 - shown in the tab
        session.mlflow.state, session.mlflow.error = "failed", f"{type(exc).__name__}: {exc}"[:300]
        log.exception("harness web UI: cannot record the test")
        return
    verdict = session.verdict()
    (log.error if verdict.state == "failed" else log.info)("harness web UI: test %s: %s", session.folder.name, verdict.text)


def write_locust_reports(environment: Any, folder: Path) -> None:
    """Locust's CSVs and HTML report of the test, named as a `harness run` names them (`locust_*.csv`, `locust_report.html`)."""
    from locust import stats
    from locust.html import get_html_report

    writer = stats.StatsCSV(environment, stats.PERCENTILES_TO_REPORT)
    for name, write in (("stats", writer.requests_csv), ("failures", writer.failures_csv), ("exceptions", writer.exceptions_csv)):
        with (folder / f"locust_{name}.csv").open("w", newline="") as fh:
            write(csv.writer(fh))
    (folder / "locust_report.html").write_text(get_html_report(environment, show_download_link=False))


def payload() -> dict[str, Any]:
    if _state.current is None:
        note = f"this test is not recorded: {_state.error}" if _state.error else "no test started yet"
        return {"rows": [{**{k: "" for k, _ in COLUMNS}, "metric": "Status", "value": note, "name": "000"}], "error": _state.error}
    return _state.current.payload()


@events.init.add_listener
def _init(environment: Any, web_ui: Any = None, **_: Any) -> None:
    if web_ui is None:
        return
    from flask import Response, request

    web_ui.template_args["extended_tabs"] = [{"title": "LLM", "key": TAB}]
    web_ui.template_args["extended_tables"] = [{"key": TAB, "structure": [{"key": k, "title": t} for k, t in COLUMNS]}]
    web_ui.template_args["extended_csv_files"] = [{"href": "./llm/stats", "title": "LLM metrics from the raw records (JSON)"}]

    @web_ui.app.route("/llm/stats")
    def llm_stats() -> Response:
        return Response(json.dumps(payload()), mimetype="application/json")

    @web_ui.app.after_request
    def add_llm_rows(response: Response) -> Response:
        if not request.path.endswith("/stats/requests") or response.status_code != 200:
            return response
        data = response.get_json(silent=True)
        if isinstance(data, dict):
            data["extended_stats"] = [{"key": TAB, "data": payload()["rows"]}]
            response.set_data(json.dumps(data))
        return response
