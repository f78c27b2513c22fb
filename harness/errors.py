"""One exception hierarchy for the whole harness.

Library code raises these; only the CLI turns them into messages and exit codes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import SupportsIndex


class Interrupted(KeyboardInterrupt):
    """A stopping signal (SIGINT, SIGTERM, SIGHUP) arrived; handled like Ctrl-C everywhere."""

    def __init__(self, signal_name: str = "SIGINT"):
        self.signal_name = signal_name
        super().__init__(signal_name)


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

    def __init__(self, message: str, returncode: int | None, log_tail: str, cause: str | None = None,
                 transient: bool = False):
        self.message = message
        self.returncode = returncode
        self.log_tail = log_tail
        self.cause = cause
        self.transient = transient
        """The cause may pass by itself (an engine's `Cause.transient`): a start that failed on it may be retried."""
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


class FidelityError(HarnessError):
    """The fidelity stage (agreement with the baseline's tokens and log-probabilities) failed."""


class FidelityUnsupported(FidelityError):
    """The endpoint answers chat completions without log-probabilities (`logprobs.content`): fidelity cannot be measured."""


class TrackingError(HarnessError):
    """Logging to or reading from MLflow failed."""


class TrackingUnavailable(TrackingError):
    """The MLflow store cannot be opened or reached (bad URI, unreadable database, server down)."""


class TrackingLocked(TrackingUnavailable):
    """The SQLite store is locked by another writer (transient: retried)."""


class TrackingRejected(TrackingError):
    """The store refused one request (invalid value, changed param, bad state): that run fails, the sweep keeps logging."""


class RunFolderError(HarnessError):
    """The sweep's own files in its run folder (sweep_state.json, experiment.yaml) cannot be written (a full or read-only disk)."""


class ExperimentNotFound(TrackingError):
    """No MLflow experiment of that name."""


class RunNotFound(TrackingError):
    """No MLflow run of that id (or no harness sweep run where one was expected)."""


class ArtifactNotFound(TrackingError):
    """A run has no artifact at that path."""


class ReportError(HarnessError):
    """A comparison or report could not be produced."""


class GateError(HarnessError):
    """Gates could not be evaluated (no gates configured, baseline not found, bad gates file)."""


# ---------------------------------------------------------------- failures as data

_ERROR_LINE = re.compile(r"^\s*(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit)|error|fatal|ERROR|FATAL)\b\s*[:\]]")
"""A line that says what went wrong: a Python exception's last line (`ConnectionError: ...`), `error: ...`."""

STAGES = ("server", "load", "quality", "quality_idle", "fidelity", "metrics", "gpu", "tracking", "report", "gate", "interrupt", "harness")
CAUSES_FIRST = ("interrupt", "server")
"""Stages whose failure causes the others of the same variant (a signal, then a server that died or never came up):
listed first, in this order, whatever order they were noticed in; the rest follow as consequences, in the order
they came (a load that timed out, lm-eval stopped by the signal)."""


@dataclass(frozen=True)
class Failure:
    """One stage's failure, kept as data until the CLI or the MLflow error tag renders it.

    Stage results carry a list of these instead of strings, so the exit code, log tail and
    likely cause of a server that died survive to the report.
    """

    stage: str
    """Which stage failed: one of STAGES."""
    message: str
    kind: str = "HarnessError"
    """The exception's class name."""
    exit_code: int | None = None
    cause: str | None = None
    """Likely cause recognised from the log (ServerExitedError)."""
    log_tail: str = ""

    @property
    def rank(self) -> int:
        """0 for an interrupt, 1 for the server, 2 for every consequence: the order a variant's failures are listed in."""
        return CAUSES_FIRST.index(self.stage) if self.stage in CAUSES_FIRST else len(CAUSES_FIRST)

    @classmethod
    def of(cls, stage: str, exc: BaseException, context: str = "") -> "Failure":
        """From an exception: keeps ServerExitedError's exit code, likely cause and log tail."""
        if isinstance(exc, ServerExitedError):
            return cls(stage, f"{context}{exc.message}", type(exc).__name__, exc.returncode, exc.cause, exc.log_tail)
        if isinstance(exc, KeyboardInterrupt):
            how = f"a {exc.signal_name} signal" if isinstance(exc, Interrupted) and exc.signal_name != "SIGINT" else "the user (Ctrl-C)"
            return cls("interrupt", f"{context}interrupted by {how}", type(exc).__name__)
        text = str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
        return cls(stage, f"{context}{text}", type(exc).__name__)

    @property
    def last_error(self) -> str | None:
        """The last line of the message's detail or the log tail that says what went wrong (a Python exception's
        last line, `error: ...`): shown on screen when no cause was recognised, so the screen says why, not only
        where the log is."""
        for line in reversed(self.message.splitlines()[1:] + self.log_tail.splitlines()):
            if _ERROR_LINE.match(line):
                return line.strip()[:300]
        return None

    @property
    def headline(self) -> str:
        """One line: stage, the message's first line, exit code and likely cause (else the log's last error line)."""
        line = self.message.splitlines()[0].rstrip().removesuffix(":") if self.message else self.kind
        if self.exit_code is not None and "exit" not in line:
            line += f" (exit code {self.exit_code})"
        if self.cause:
            line += f"; likely cause: {self.cause}"
        elif (error := self.last_error) is not None and error not in line:
            line += f"; last error in the log: {error}"
        return f"{self.stage}: {line}"

    def text(self) -> str:
        """Everything, for the MLflow error tag and logs."""
        out = f"[{self.stage}] {self.message}"
        if self.exit_code is not None:
            out += f"\nexit code: {self.exit_code}"
        if self.cause:
            out += f"\nlikely cause: {self.cause}"
        if self.log_tail:
            out += "\n--- last lines of the log ---\n" + self.log_tail
        return out


class Failures(list[Failure]):
    """A variant's failures, always in cause order (`Failure.rank`, stable): the first is the cause, and so
    `harness.failed_stage` and the start of the screen line, however late it was noticed."""

    def __init__(self, items: Iterable[Failure] = ()):
        super().__init__()
        self.extend(items)

    def append(self, failure: Failure) -> None:
        at = len(self)
        while at and self[at - 1].rank > failure.rank:
            at -= 1
        super().insert(at, failure)

    def insert(self, _index: SupportsIndex, failure: Failure) -> None:
        self.append(failure)

    def extend(self, failures: Iterable[Failure]) -> None:
        for f in list(failures):
            self.append(f)

    def __iadd__(self, failures: Iterable[Failure]) -> "Failures":  # type: ignore[override, misc]
        self.extend(failures)
        return self
