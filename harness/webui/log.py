"""`python -m harness.webui.log FOLDER`: log a finished web-UI test's run folder to MLflow.

The same writer as `harness run` (SweepLogger): a sweep run `locust-webui-<time>` with the spec's
params and `spec/experiment.yaml`, one variant run with the variant's params, metrics, tags,
dataset inputs and the variant folder's files (the raw records, Locust's CSV and HTML report,
lm-eval's results). Run as a process of its own, outside the gevent-patched Locust process.
Exit 0 when logged; 2 with the reason on stderr when not (the folder stays, for `harness sync`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.tracking.state import SweepState


def log_folder(folder: Path) -> SweepState:
    """Sweep run, variant runs, end of sweep; the folder's sweep state records the run ids and what was logged."""
    from harness.spec.loader import build_spec, read_yaml, resolve_variants
    from harness.tracking.mlflow_logger import RESULTS_FILE, SweepLogger

    state = SweepState.read(folder)
    spec = build_spec(read_yaml(folder / "experiment.yaml"), {}, [])
    variants = resolve_variants(spec)
    logger = SweepLogger(spec, variants)
    state.parent_run_id, state.experiment = logger.start_sweep(folder), logger.experiment
    state.save()
    failed = False
    for variant in variants:
        record = json.loads((folder / variant.name / RESULTS_FILE).read_text())
        run_id = logger.start_variant(variant)
        state.mark(variant.name, run_id=run_id)
        logger.send_variant(run_id, record, folder / variant.name)
        state.mark(variant.name, logged=True)
        failed = failed or record["status"] != "FINISHED"
    logger.end_sweep(failed)
    return state


def main(argv: list[str]) -> int:
    from harness.tracking.session import fail_fast

    if len(argv) != 1:
        print("usage: python -m harness.webui.log RUN_FOLDER", file=sys.stderr)
        return 2
    fail_fast()
    try:
        state = log_folder(Path(argv[0]))
    except HarnessError as exc:
        print(f"MLflow: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(json.dumps({"experiment": state.experiment, "sweep_run_id": state.parent_run_id,
                      "runs": {n: v.run_id for n, v in state.variants.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
