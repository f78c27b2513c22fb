"""Locust's web UI as a harness front end: an LLM tab, quality and MLflow from the start form.

    locust -f "$(python -m harness.webui)" --host http://127.0.0.1:8080     # then open http://127.0.0.1:8089

The locustfile (`harness/webui/locustfile.py`) is the harness's chat user plus `plugin.py`:
the LLM tab shows TTFT, TPOT, ITL, end-to-end percentiles, tokens/s, goodput against `load.slo`
and errors from the test's raw records (`live.py`, the harness's own `summarize`); a test with
quality tasks runs lm-eval against the same host; each stopped test is judged by whether its server
served (`harness/load/served.py`, `load.max_error_rate`: a window with no success or too many errors is
FAILED, the cause in the tab's Verdict row), written as a `harness run` variant (`session.py`,
`record.py`) and logged to MLflow by `log.py` in a process of its own (FAILED with `harness.error`).
An entry point, like the CLI: it sits on top of the pipeline's stages and tracking.
"""

from __future__ import annotations

import atexit
import functools
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path

_extracted = ExitStack()
atexit.register(_extracted.close)


@functools.cache
def locustfile() -> Path:
    """A real path to the web UI's locustfile for Locust's `-f` (extracted if the package is zipped)."""
    return _extracted.enter_context(as_file(files(__name__) / "locustfile.py"))
