"""The locustfiles the harness runs, shipped as package data: `chat.py`, and `chat_steps.py` for closed-loop steps.

By hand with the web UI's LLM tab: `locust -f "$(python -m harness.webui)" --host http://127.0.0.1:8080`
(or `locust -f locustfiles/chat.py` in a checkout), harness/webui/.
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
def locustfile(shaped: bool = False) -> Path:
    """A real path to the packaged locustfile for Locust's `-f` (extracted for this process if the package is zipped)."""
    return _extracted.enter_context(as_file(files(__name__) / ("chat_steps.py" if shaped else "chat.py")))
