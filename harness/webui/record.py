"""A finished web-UI test written as `harness run` writes a measured variant.

The outcome is a `VariantOutcome` (variant = an attach-run `ResolvedVariant` of kind openai
pointing at the host, load = a `LoadResult` from the test's records, quality = the
`QualityResult`); its record is the tracking writer's `variant_record`, written to
`<variant>/results.json`, with `experiment.yaml` and `sweep_state.json` beside the variant
folder: what `python -m harness.webui.log` (or later `harness sync`) logs to MLflow.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from harness.outcome import VariantOutcome

if TYPE_CHECKING:
    from harness.webui.session import WebSession


def outcome(session: "WebSession") -> VariantOutcome:
    """The test as a variant's outcome (the session has stopped, its records were read and its load judged)."""
    from harness.load.runner import LoadArtifacts, LoadResult
    from harness.server.launch import RunningServer
    from harness.server.version import server_version

    stopped = session.stopped or session.started
    out = VariantOutcome(variant=session.variant(), folder=session.variant_folder, failures=list(session.failures),
                         duration_s=stopped - session.started)
    summary = session.summary()  # final: an empty window too (the session judged it: `failures` says whether it served)
    assert summary is not None, "outcome() before the session's final summary"
    out.load = LoadResult(summary, list(session.tail.records), session.window_start, stopped, 0,
                          LoadArtifacts.in_folder(session.load_folder))
    out.quality = session._result
    try:
        ep = session.endpoint()
        out.server = RunningServer(endpoint=replace(ep, info=server_version(ep)), model=None)
    except Exception:  # noqa: BLE001 - the host is gone: the run is logged without the server's facts
        pass
    return out


def write_folder(session: "WebSession") -> VariantOutcome:
    """Spec, sweep state, records and the variant's record (results.json) in the test's run folder; returns the outcome."""
    from harness.redaction import redact, scrub_folder
    from harness.tracking.mlflow_logger import spec_secrets, variant_record, write_record
    from harness.tracking.state import SweepState
    from harness.webui.session import spec_yaml

    stopped = session.stopped or session.started
    session.spec = session.experiment_spec(duration_s=stopped - session.window_start)
    variant = session.variant()
    secrets = spec_secrets(session.spec, [variant])
    (session.folder / "experiment.yaml").write_text(redact(spec_yaml(session.spec), secrets))
    state = SweepState.new(session.folder, session.spec, [variant.name])
    state.experiment = session.spec.tracking.experiment or session.spec.name
    if session.records_path != session.own_records:  # `--records` elsewhere: this test's records travel with its run
        with session.own_records.open("w") as fh:
            fh.writelines(r.to_json() + "\n" for r in session.tail.records)
    result = outcome(session)
    write_record(session.variant_folder, variant_record(session.spec, secrets, result))
    scrub_folder(session.variant_folder, secrets)
    state.variants[variant.name].status = "failed" if result.failed else "ok"
    state.finished = True
    state.save()
    return result
