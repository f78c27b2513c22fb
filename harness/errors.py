"""One exception hierarchy for the whole harness.

Library code raises these; only the CLI turns them into messages and exit codes.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""

    exit_code = 2


class SpecError(HarnessError):
    """The experiment spec (YAML, environment or CLI overrides) is invalid."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid spec:\n" + "\n".join(f"  - {p}" for p in problems))


class ModelSourceError(HarnessError):
    """A model source (path, hf://, pypi://) could not be resolved to a local file."""


class DependencyError(HarnessError):
    """A required program or package is missing."""


class ServerError(HarnessError):
    """The inference server could not be started or stopped working."""


class ServerExitedError(ServerError):
    """The server process exited while it was expected to be running."""

    def __init__(self, message: str, returncode: int | None, log_tail: str, cause: str | None = None):
        self.returncode = returncode
        self.log_tail = log_tail
        self.cause = cause
        text = message
        if cause:
            text += f"\nlikely cause: {cause}"
        if log_tail:
            text += "\n--- last lines of the server log ---\n" + log_tail
        super().__init__(text)


class ReadinessTimeout(ServerError):
    """The server did not become ready before its deadline."""


class LoadError(HarnessError):
    """The load generator (Locust) failed."""


class TokenizerError(LoadError):
    """The tokenizer for client-side token counts (`load.tokenizer`) could not be built or used."""


class QualityError(HarnessError):
    """The quality evaluation (lm-eval) failed."""


class TrackingError(HarnessError):
    """Logging to or reading from MLflow failed."""


class ReportError(HarnessError):
    """A comparison or report could not be produced."""


class GateError(HarnessError):
    """Gates could not be evaluated (no gates configured, baseline not found, bad gates file)."""
