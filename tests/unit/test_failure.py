"""Failures are data until the CLI or the MLflow tag renders them."""

from __future__ import annotations

from harness.errors import Failure, LoadError, ServerExitedError


def test_a_server_exit_keeps_its_code_cause_and_log():
    exc = ServerExitedError("the server died during the measurement", 137, "line 1\nCUDA out of memory", "CUDA out of memory")
    f = Failure.of("server", exc)
    assert (f.stage, f.kind, f.exit_code, f.cause) == ("server", "ServerExitedError", 137, "CUDA out of memory")
    assert f.message == "the server died during the measurement" and f.log_tail.endswith("CUDA out of memory")
    assert f.headline == "server: the server died during the measurement (exit code 137); likely cause: CUDA out of memory"
    text = f.text()
    assert text.startswith("[server] the server died") and "exit code: 137" in text and text.endswith("CUDA out of memory")


def test_other_exceptions_and_interrupts():
    assert Failure.of("load", LoadError("Locust exited with code 3\nlog")).headline == "load: Locust exited with code 3"
    assert Failure.of("load", OSError(28, "No space left on device")).message == "OSError: [Errno 28] No space left on device"
    assert Failure.of("load", KeyboardInterrupt()).stage == "interrupt"
    assert Failure.of("load", LoadError("x"), "scan point 4: ").message == "scan point 4: x"
