"""A server subprocess that is always reaped.

`ManagedProcess` starts an argv list (never a shell string) in its own process group, sends
its stdout and stderr to a log file, and on leaving the `with` block, whatever the reason
(an exception, Ctrl-C), terminates the whole group: SIGTERM, then SIGKILL after a grace period. A second
signal (`shutdown.hurry()`) shortens the grace to `shutdown.HURRY_GRACE_S`, counted from that signal, after
sending the group its `hurry_signal`, if it has one (Locust's: stop the users now and write their records).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from harness.errors import DependencyError
from harness.server import shutdown
from harness.server.engines import likely_causes
from harness.server.engines.base import Cause, cause

# Recognisable causes of a failed start, checked in order against the log tail after the engine's
# own, more specific texts (harness/server/engines/: `Engine.causes`).
_GENERIC_CAUSES: list[Cause] = [
    cause(r"CUDA out of memory|OutOfMemoryError|out of memory", "GPU/CPU out of memory: lower gpu_memory_utilization, max_model_len or max_num_seqs, or use a smaller model"),
    cause(r"unrecognized arguments?:|unknown argument|error: invalid argument|invalid choice:", "an unknown command-line flag or value: check server.extra_args and the engine version's --help"),
    cause(r"address already in use|bind.*failed|couldn't bind", "the port is taken: set server.port to a free port or leave it empty to pick one"),
    # not a bare "does not exist": a healthy vLLM logs "The model `x` does not exist." for a client's wrong model name
    cause(r"failed to load model|error loading model|No such file", "the model could not be loaded: check server.model"),
]


def matched_cause(log_text: str, engine: str | None = None) -> Cause | None:
    """The first known cause whose pattern a server log matches (the engine's own before the generic ones).

    `engine` (a `server.kind`) narrows the engine-specific patterns to that engine's; None tries every engine's.
    """
    for c in likely_causes(engine) + _GENERIC_CAUSES:
        if c.pattern.search(log_text):
            return c
    return None


def likely_cause(log_text: str, engine: str | None = None) -> str | None:
    """A one-line diagnosis of a server log, when one of the known patterns matches (`matched_cause`'s text)."""
    found = matched_cause(log_text, engine)
    return found.text if found is not None else None


def tail(path: Path, lines: int = 40, start: int = 0) -> str:
    """The last lines of a text file from byte `start` on (empty when missing)."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(start, size - 64_000))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


class ManagedProcess:
    """Context manager around one subprocess with its log file."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None, grace_s: float = 15.0,
                 hurry_signal: int | None = None):
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise TypeError("argv must be a non-empty list of strings")
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.grace_s = grace_s
        self.hurry_signal = hurry_signal
        """Sent to the group when a second signal hurries a stop in progress (None: nothing; SIGKILL still follows)."""
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = None
        self._log_start = 0
        """Where this start's output begins in the log (a restarted server appends to the same file)."""

    def start(self) -> "ManagedProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._log_start = self._log.seek(0, os.SEEK_END)
        full_env = dict(os.environ)
        if self.env:
            full_env.update(self.env)
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            self._log.close()
            raise DependencyError(f"cannot start '{self.argv[0]}': not found on PATH ({exc})") from exc
        except OSError as exc:  # not executable, not a program, too many processes, ...
            self._log.close()
            raise DependencyError(f"cannot start '{self.argv[0]}': {exc.strerror or exc}") from exc
        shutdown.register(self)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def poll(self) -> int | None:
        """Exit code, or None while running."""
        return self.proc.poll() if self.proc else None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines this start wrote (not an earlier start's, in the same log)."""
        return tail(self.log_path, lines, self._log_start)

    def stop(self) -> int | None:
        """Terminate the process group; returns the exit code.

        SIGTERM, then SIGKILL after `grace_s`; once a second signal asks to hurry, the group gets its `hurry_signal`
        and `HURRY_GRACE_S` from then on (never from the stop's start: a process told to hurry gets time to do so).
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            start = time.monotonic()
            hurried: float | None = None
            while self.proc.poll() is None:
                now = time.monotonic()
                if hurried is None and shutdown.hurry():
                    hurried = now
                    if self.hurry_signal is not None:
                        self._signal(self.hurry_signal)
                if now - start >= self.grace_s or (hurried is not None and now - hurried >= shutdown.HURRY_GRACE_S):
                    break
                try:
                    time.sleep(0.05)
                except KeyboardInterrupt:  # never abandon the group half-stopped: escalate instead
                    break
            if self.proc.poll() is None:
                self._signal(signal.SIGKILL)
                self._wait_killed()
        else:
            self._signal(signal.SIGKILL)  # reap any children left in the group
        if self._log and not self._log.closed:
            self._log.close()
        return self.proc.returncode

    def _wait_killed(self) -> None:
        assert self.proc is not None
        for _ in range(3):
            try:
                self.proc.wait(timeout=10)
                return
            except KeyboardInterrupt:
                continue
            except subprocess.TimeoutExpired:
                return

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> "ManagedProcess":
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
