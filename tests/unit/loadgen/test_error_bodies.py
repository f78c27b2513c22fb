"""A server's errors on a 200 answer are errors with its own message: an OpenAI error JSON instead of a stream, a
`data: {"error": ...}` event, an `event: error` event, llama.cpp's `error:` line; and timeouts are part of the picture."""

from __future__ import annotations

import json

import pytest

from harness.load.served import dominant_error, not_served
from harness.load.stats import summarize
from harness.loadgen.record import RequestRecord
from harness.loadgen.sse import ErrorEvent, SSEDecoder, body_message, error_message
from harness.loadgen.timeline import StreamTimeline

ROLE = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
TOKEN = b'data: {"choices":[{"index":0,"delta":{"content":" hi"}}]}\n\n'
DONE = b"data: [DONE]\n\n"


def _play(reads: list[bytes], step: int | None = None, failure: str | None = None) -> RequestRecord:
    """Feed the answer in its reads (or re-cut into `step`-byte reads), then finish."""
    tl = StreamTimeline(RequestRecord(t_start=1000.0))
    raw = b"".join(reads)
    pieces = reads if step is None else [raw[i:i + step] for i in range(0, len(raw), step)]
    for i, piece in enumerate(pieces):
        tl.feed(0.01 * (i + 1), piece)
    return tl.finish(1.0, failure)


ERROR_JSON = {"error": {"message": "model overloaded", "type": "server_error", "code": 503}}


@pytest.mark.parametrize("step", [None, 1, 7])
@pytest.mark.parametrize(
    "reads,error",
    [
        ([json.dumps(ERROR_JSON).encode()], "ErrorBody: model overloaded"),  # no newline at all
        ([json.dumps(ERROR_JSON, indent=2).encode() + b"\n"], "ErrorBody: model overloaded"),  # pretty-printed
        ([b'{"error": "quota exceeded"}\n'], "ErrorBody: quota exceeded"),
        ([b'{"object": "error", "message": "bad model", "type": "NotFoundError", "code": 404}'], "ErrorBody: bad model"),  # vLLM's bare one
        ([ROLE, TOKEN, b'data: {"error": {"message": "KV cache exhausted"}}\n\n'], "StreamError: KV cache exhausted"),
        ([ROLE, b'event: error\ndata: {"error": {"message": "engine died"}}\n\n'], "StreamError: engine died"),
        ([ROLE, b'event: error\ndata: {"message": "engine died"}\n\n', DONE], "StreamError: engine died"),
        ([ROLE, b"event: error\ndata: plain words\n\n"], "StreamError: plain words"),
        ([b"event: error\n\n"], "StreamError: an error event without a message"),
        # llama.cpp: server_sent_event(sink, "error", error_data) writes an `error:` field
        ([ROLE, b'error: {"code": 400, "message": "the request exceeds the available context size", "type": "invalid_request_error"}\n\n'],
         "StreamError: the request exceeds the available context size"),
        ([b'{"choices": [{"message": {"content": "hello"}}]}'], "NotAStream: a 200 answer without a single server-sent event: "),
        ([b"<html>bad gateway</html>"], "NotAStream: a 200 answer without a single server-sent event: <html>bad gateway</html>"),
        ([ROLE, b"data: {this is not json\n\n", TOKEN, DONE], "MalformedStream: an event is not JSON"),
    ],
)
def test_a_200_answer_carrying_an_error_is_an_error_with_the_servers_message(reads, error, step):
    rec = _play(reads, step)
    assert not rec.ok and rec.error is not None and rec.error.startswith(error), rec.error


def test_the_first_error_wins_over_later_ones_and_over_the_transports_failure():
    rec = _play([ROLE, b'data: {"error": {"message": "first"}}\n\n', b'data: {"error": {"message": "second"}}\n\n'],
                failure="TimeoutError: no complete response within 5 s (load.request_timeout_s)")
    assert rec.error == "StreamError: first"
    timed = _play([ROLE, TOKEN], failure="TimeoutError: no complete response within 5 s (load.request_timeout_s)")
    assert timed.error.startswith("TimeoutError") and timed.ttft_s is not None  # what arrived is kept


def test_an_ordinary_stream_and_events_named_otherwise_are_not_errors():
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1},"error":null}\n\n'
    rec = _play([ROLE, b"event: message\n" + TOKEN, usage, DONE])
    assert rec.ok and rec.error is None and rec.completion_tokens == 1


def test_the_decoder_marks_error_events_only():
    dec = SSEDecoder()
    out = dec.feed(b"event: error\ndata: a\n\ndata: b\n\nerror: c\n\n") + dec.close()
    assert out == ["a", "b", "c"] and [type(e) for e in out] == [ErrorEvent, str, ErrorEvent]


def test_messages_of_error_bodies():
    assert error_message(ERROR_JSON) == "model overloaded"
    assert error_message({"choices": [], "error": None}) is None
    assert error_message({"error": {"code": 1}}) == '{"code": 1}'
    assert body_message('{"detail": "Not Found"}') == "Not Found"  # FastAPI
    assert body_message(json.dumps(ERROR_JSON)) == "model overloaded"
    assert body_message("upstream timed out\n") == "upstream timed out"


def _rec(ok: bool, error: str | None = None, ttft: float | None = 0.05, e2e: float = 0.2, timed_out: bool = False) -> RequestRecord:
    return RequestRecord(t_start=1000.0, ok=ok, error=error, ttft_s=ttft, e2e_s=e2e, timed_out=timed_out, completion_tokens=4)


def test_timeouts_are_counted_and_in_the_censored_percentiles():
    ok = [_rec(True) for _ in range(7)]
    late = [_rec(False, "TimeoutError: no complete response within 5 s (load.request_timeout_s)", ttft=None, e2e=5.0, timed_out=True)
            for _ in range(3)]
    s = summarize(ok + late)
    assert s.timeouts == 3 and s.timeout_rate == pytest.approx(0.3) and s.error_rate == pytest.approx(0.3)
    assert s.ttft_ms.p95 == pytest.approx(50.0)  # the successful requests only ...
    assert s.ttft_censored_ms.p95 == pytest.approx(5000.0) and s.ttft_censored_ms.count == 10  # ... and with the timeouts at 5 s
    assert s.e2e_censored_ms.max == pytest.approx(5000.0) and s.e2e_ms.max == pytest.approx(200.0)
    m = s.flat_metrics()
    assert m["perf/timeouts"] == 3 and m["perf/timeout_rate"] == pytest.approx(0.3)
    assert m["perf/ttft_censored_p95_ms"] == pytest.approx(5000.0)


def test_the_served_check_names_the_dominant_error_with_the_servers_message():
    s = summarize([_rec(False, "ErrorBody: model overloaded", ttft=None) for _ in range(5)] + [_rec(False, "HTTP 503: busy")])
    assert dominant_error(s) == "ErrorBody x5: model overloaded"
    failure = not_served(s, 0.05, 6, 0.0, 10.0)
    assert failure is not None and failure.kind == "NotServed"
    assert "0 of 6 requests in the measured window succeeded; ErrorBody x5: model overloaded" in failure.message
    some = summarize([_rec(True) for _ in range(18)] + [_rec(False, "HTTP 503: busy") for _ in range(2)])
    assert not_served(some, 0.2, 20, 0.0, 10.0) is None
    failure = not_served(some, 0.05, 20, 0.0, 10.0)
    assert failure is not None and "2 of 20 requests in the measured window failed (10.0% > load.max_error_rate 5%); HTTP 503 x2: busy" \
        in failure.message


def test_the_load_line_gives_the_unfinished_share_next_to_the_latency(tmp_path):
    from harness.load.runner import LoadArtifacts, LoadResult
    from harness.pipeline.presenter import Presenter

    def line(records: list[RequestRecord]) -> str:
        lines: list[str] = []
        Presenter(lines.append).load_done(LoadResult(summarize(records), records, 0, 1, 0, LoadArtifacts.in_folder(tmp_path)))
        return lines[-1]

    ok = [_rec(True) for _ in range(7)]
    late = [_rec(False, "TimeoutError: no complete response within 5 s", ttft=None, e2e=5.0, timed_out=True) for _ in range(3)]
    assert "unfinished" not in line(ok) and line(ok).endswith("TTFT p50 50 ms")
    assert line(ok + late).endswith("TTFT p50 50 ms over the 7 that succeeded, 30.0% unfinished "
                                    "(3 timed out; E2E p95 with them at their timeout 5000 ms)")
    assert line([_rec(False, "ErrorBody: model overloaded", ttft=None)]).endswith("0 output tok/s, no latency, 100.0% unfinished")
