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


def test_the_cause_comes_first_whatever_order_failures_are_noticed_in():
    """An interrupt, then the server, then the consequences in the order they came: the first is `harness.failed_stage`."""
    from harness.errors import Failures

    slow = Failure("load", "no request started in the measured window finished; lengthen load.duration_s", "NotServed")
    lm_eval = Failure("quality", "lm-eval exited with code -15", "QualityError")
    died = Failure.of("server", ServerExitedError("the server died during the measurement", 137, ""))
    stopped = Failure.of("interrupt", KeyboardInterrupt())
    out = Failures([slow, lm_eval])
    out.append(died)
    out.append(stopped)
    assert [f.stage for f in out] == ["interrupt", "server", "load", "quality"]
    out.extend([Failure("fidelity", "x"), Failure("server", "second death")])
    out.insert(0, Failure("gpu", "y"))  # no way around the rule
    assert [f.message for f in out] == ["interrupted by the user (Ctrl-C)", "the server died during the measurement", "second death",
                                        slow.message, lm_eval.message, "x", "y"]
    out += [Failure.of("interrupt", KeyboardInterrupt(), "after 1 of 3 repeats: ")]
    assert [f.stage for f in out[:2]] == ["interrupt", "interrupt"] and out[1].message.startswith("after 1 of 3")
    assert [f.rank for f in (stopped, died, slow)] == [0, 1, 2]


def test_an_outcome_keeps_its_failures_cause_first_however_they_are_set(tmp_path):
    from harness.errors import Failures
    from harness.outcome import RepeatedOutcome, VariantOutcome
    from harness.spec import build_spec, resolve_variants
    from harness.tracking.mlflow_logger import failure_tags

    (variant,) = resolve_variants(build_spec({"name": "s"}, {}, []))
    consequence = Failure("load", "the server did not serve: 0 of 4 requests in the measured window succeeded", "NotServed")
    out = VariantOutcome(variant, tmp_path, failures=[consequence])
    out.failures.append(Failure.of("interrupt", KeyboardInterrupt()))  # what the sweep does once run_variant raised
    assert isinstance(out.failures, Failures) and [f.stage for f in out.failures] == ["interrupt", "load"]
    assert out.error_text.startswith("[interrupt] interrupted by the user (Ctrl-C)")
    assert failure_tags(out)["harness.failed_stage"] == "interrupt"
    out.failures = [consequence, Failure("server", "the endpoint stopped answering")]
    assert [f.stage for f in out.failures] == ["server", "load"]
    repeated = RepeatedOutcome(variant, tmp_path)
    repeated.failures.extend([consequence, Failure.of("interrupt", KeyboardInterrupt())])
    assert repeated.failures[0].stage == "interrupt"
