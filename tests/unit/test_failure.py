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


def test_without_a_recognised_cause_the_log_s_last_error_line_is_on_screen():
    from harness.errors import QualityError

    tail = ("Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>\n"
            "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='huggingface.co', port=443): Max retries exceeded\n"
            "INFO done")
    f = Failure.of("quality", QualityError("lm-eval exited with code 1; see runs/x/lm_eval.log:\n" + tail))
    assert f.headline == ("quality: lm-eval exited with code 1; see runs/x/lm_eval.log; last error in the log: "
                          "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='huggingface.co', port=443): Max retries exceeded")
    assert Failure("server", "died", log_tail="main: error: couldn't bind\nerror: invalid argument: --bogus").last_error == \
        "error: invalid argument: --bogus"
    assert Failure("load", "Locust exited with code 3\nno errors here").headline == "load: Locust exited with code 3"
    # a recognised cause wins over the raw line
    assert "last error" not in Failure("server", "x", exit_code=1, cause="the port is taken", log_tail="OSError: in use").headline
