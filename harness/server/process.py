"""A server subprocess that is always reaped.

`ManagedProcess` starts an argv list (never a shell string) in its own process group, sends
its stdout and stderr to a log file, and on leaving the `with` block, whatever the reason
(an exception, Ctrl-C), terminates the whole group: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from harness.errors import DependencyError
from harness.server import shutdown

# Recognisable causes of a failed start, checked in order against the log tail. vLLM's own texts
# (0.2x) come first: they are more specific than the generic patterns below them.
_CAUSES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"No available memory for the cache blocks|larger than the available KV cache memory|"
                r"estimated maximum model length is", re.I),
     "GPU out of memory for the KV cache: raise gpu_memory_utilization or lower max_model_len / max_num_seqs"),
    (re.compile(r"less than desired GPU memory utilization", re.I),
     "GPU out of memory: another process holds GPU memory; lower gpu_memory_utilization or free the GPU"),
    (re.compile(r"CUDA out of memory|OutOfMemoryError|out of memory", re.I), "GPU/CPU out of memory: lower gpu_memory_utilization, max_model_len or max_num_seqs, or use a smaller model"),
    (re.compile(r"unrecognized arguments?:|unknown argument|error: invalid argument|invalid choice:", re.I), "an unknown command-line flag or value: check server.extra_args and the engine version's --help"),
    (re.compile(r"address already in use|bind.*failed|couldn't bind", re.I), "the port is taken: set server.port to a free port or leave it empty to pick one"),
    (re.compile(r"quantization.*not supported|not supported.*quantization|Unknown quantization|"
                r"is not supported for quantization method|Minimum capability: \d+", re.I),
     "the quantization (or its dtype) is not supported by this GPU or engine version"),
    (re.compile(r"No CUDA GPUs are available|Failed to infer device type|no NVIDIA driver", re.I), "no usable GPU is visible to the server"),
    (re.compile(r"GatedRepoError|RepositoryNotFoundError|is not a valid model identifier|401 Client Error", re.I),
     "the model could not be downloaded (unknown or gated repo, no network or no token): check server.model"),
    # not a bare "does not exist": a healthy vLLM logs "The model `x` does not exist." for a client's wrong model name
    (re.compile(r"failed to load model|error loading model|No such file|Invalid repository ID or local directory|"
                r"Repo id must be in the form", re.I), "the model could not be loaded: check server.model"),
    (re.compile(r"compute capability", re.I), "the GPU's compute capability is too old for this config"),
]


def likely_cause(log_text: str) -> str | None:
    """A one-line diagnosis of a server log, when one of the known patterns matches."""
    for pattern, cause in _CAUSES:
        if pattern.search(log_text):
            return cause
    return None


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a text file (empty when missing)."""
    try:
        data = path.read_bytes()[-64_000:]
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


class ManagedProcess:
    """Context manager around one subprocess with its log file."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None, grace_s: float = 15.0):
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise TypeError("argv must be a non-empty list of strings")
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.grace_s = grace_s
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = None

    def start(self) -> "ManagedProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
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
        shutdown.register(self)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def poll(self) -> int | None:
        """Exit code, or None while running."""
        return self.proc.poll() if self.proc else None

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def stop(self) -> int | None:
        """Terminate the process group; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            start = time.monotonic()
            while self.proc.poll() is None:
                waited = time.monotonic() - start
                if waited >= self.grace_s or (shutdown.hurry() and waited >= shutdown.HURRY_GRACE_S):
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
