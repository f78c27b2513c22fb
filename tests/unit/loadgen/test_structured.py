"""Structured output and tool calls (harness/loadgen/structured.py): the body fields, the seeded ratio, the client's
check of JSON replies and tool calls, and tool-call deltas timed as output (harness/loadgen/timeline.py)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from harness.loadgen import structured
from harness.loadgen.record import RequestRecord
from harness.loadgen.timeline import StreamTimeline
from harness.loadgen.workload import make
from harness.spec.load import LoadSpec

SCHEMA = {"title": "City facts", "type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
          "required": ["city", "population"], "additionalProperties": False}
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def _load(**structured_spec) -> LoadSpec:
    return LoadSpec(prompt_tokens={"mean": 10}, workload={"structured": structured_spec})


def _requests(load: LoadSpec, stream: int, n: int):
    source = structured.wrap(load, stream, make(load, stream, None))
    out = []
    for _ in range(n):
        out.append(source.next())
        source.reply("ok")
    return out


def test_bodies_of_each_kind_and_the_ratio_is_seeded():
    load = _load(json_schema=SCHEMA, tools=[TOOL], tool_choice="auto", ratio=0.5)
    reqs = _requests(load, 3, 400)
    kinds = [r.kind for r in reqs]
    assert 0.4 < 1 - kinds.count("chat") / len(kinds) < 0.6  # ratio 0.5
    assert kinds.count("json") > 60 and kinds.count("tools") > 60  # both given: even odds between them
    json_req = next(r for r in reqs if r.kind == "json")
    assert json_req.extra == {"response_format": {"type": "json_schema",
                                                  "json_schema": {"name": "City_facts", "schema": SCHEMA, "strict": True}}}
    tools_req = next(r for r in reqs if r.kind == "tools")
    assert tools_req.extra == {"tools": [TOOL], "tool_choice": "auto"}
    assert next(r for r in reqs if r.kind == "chat").extra == {}
    assert [r.kind for r in _requests(load, 3, 400)] == kinds  # seeded by (seed, stream)
    assert [r.kind for r in _requests(load, 4, 400)] != kinds
    # the prompts are the inner source's own: structured or not, the same messages in the same order
    plain = [r.messages for r in _requests(LoadSpec(prompt_tokens={"mean": 10}), 3, 400)]
    assert [r.messages for r in reqs] == plain


def test_ratio_one_and_files(tmp_path):
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(SCHEMA))
    tools_file = tmp_path / "tools.json"
    tools_file.write_text(json.dumps([TOOL]))
    assert {r.kind for r in _requests(_load(json_schema=str(schema_file)), 0, 50)} == {"json"}
    reqs = _requests(_load(tools=str(tools_file)), 0, 50)
    assert {r.kind for r in reqs} == {"tools"} and reqs[0].extra["tool_choice"] == "required"
    assert structured.wrap(LoadSpec(), 0, make(LoadSpec(), 0, None)).__class__.__name__ == "Workload"  # none: not wrapped


@pytest.mark.parametrize("bad, said", [
    ({}, "json_schema` or `tools"),
    ({"json_schema": {"type": "objekt"}}, "not a valid JSON schema"),
    ({"tools": [{"type": "function", "function": {"parameters": {}}}]}, "tools[0]"),
    ({"tools": [TOOL, TOOL]}, "a second tool named 'get_weather'"),
    ({"json_schema": "missing.json"}, "does not exist"),
])
def test_bad_specs_are_refused_early(bad, said):
    with pytest.raises(ValidationError, match="structured") as info:
        _load(**bad)
    assert said in str(info.value)


@pytest.mark.parametrize("text, finish, valid, reason", [
    ('{"city": "Oslo", "population": 700000}', "stop", True, None),
    ('{"city": "Oslo", "population": "many"}', "stop", False, "schema: population: 'many' is not of type 'integer'"),
    ('{"city": "Oslo"}', "stop", False, "schema: (root): 'population' is a required property"),
    ('{"city": "Oslo", "popu', "length", False, "not JSON (cut at max_tokens)"),
    ("", "stop", False, "no content"),
])
def test_json_replies_are_parsed_and_validated(text, finish, valid, reason):
    spec = _load(json_schema=SCHEMA).workload.structured
    ok, why = structured.check(spec, "json", text, [], finish)
    assert ok is valid
    assert (why is None) if reason is None else why.startswith(reason)


@pytest.mark.parametrize("calls, choice, valid, reason", [
    ([{"name": "get_weather", "arguments": '{"city": "Oslo"}'}], "required", True, None),
    ([], "required", False, "no tool call"),
    ([], "auto", True, None),
    ([{"name": "get_time", "arguments": "{}"}], "required", False, "tool 'get_time' was not offered"),
    ([{"name": "get_weather", "arguments": '{"city": '}], "required", False, "get_weather: arguments not JSON"),
    ([{"name": "get_weather", "arguments": '{"town": "Oslo"}'}], "required", False, "get_weather: arguments: (root): 'city' is a required"),
    ([{"name": "", "arguments": "{}"}], "required", False, "a tool call without a name"),
])
def test_tool_calls_are_checked_against_the_offered_tools(calls, choice, valid, reason):
    spec = _load(tools=[TOOL], tool_choice=choice).workload.structured
    ok, why = structured.check(spec, "tools", "", calls)
    assert ok is valid
    assert (why is None) if reason is None else why.startswith(reason)


def _sse(delta: dict) -> bytes:
    return f"data: {json.dumps({'choices': [{'index': 0, 'delta': delta}]})}\n\n".encode()


def test_tool_call_deltas_are_timed_as_output_tokens_and_joined_per_index():
    rec = RequestRecord(t_start=0.0)
    tl = StreamTimeline(rec, keep_text=True)
    tl.feed(0.01, _sse({"role": "assistant", "content": None}))
    tl.feed(0.20, _sse({"tool_calls": [{"index": 0, "id": "a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}))
    tl.feed(0.25, _sse({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}))
    tl.feed(0.30, _sse({"tool_calls": [{"index": 1, "id": "b", "type": "function",
                                        "function": {"name": "get_weather", "arguments": '{"ci'}}]}))
    tl.feed(0.35, _sse({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}))
    tl.feed(0.40, _sse({"tool_calls": [{"index": 1, "function": {"arguments": 'ty": "Rome"}'}}]}))
    tl.feed(0.41, b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n'
                  b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":5}}\n\ndata: [DONE]\n\n')
    tl.finish(0.42)
    assert rec.ok and rec.ttft_s == 0.20  # the first tool-call piece, not the role chunk
    assert rec.chunk_offsets_s == [0.20, 0.25, 0.30, 0.35, 0.40]  # every piece is an ITL point
    assert rec.finish_reason == "tool_calls"
    assert tl.tool_calls() == [{"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                               {"name": "get_weather", "arguments": '{"city": "Rome"}'}]
    assert tl.reply() == ""


@pytest.mark.parametrize("withheld", [True, False])
def test_a_tool_request_answered_with_tokens_and_no_call_is_an_invalid_reply_not_an_error(withheld: bool):
    """What vLLM 0.26 sent on the H100 for `tool_choice: required` with random weights (benchmarks/results/
    vllm-7b-workloads/): the role chunk, 128 tokens generated (finish `length`), no tool-call delta, since vLLM
    streams a call only once its JSON parses. For a tool request that is a reply with no tool call (invalid, counted by
    the structured check); for any other request the same stream is a NoContent error."""
    rec = RequestRecord(t_start=0.0)
    tl = StreamTimeline(rec, keep_text=True, withheld=withheld)
    tl.feed(0.01, _sse({"role": "assistant", "content": ""}))
    tl.feed(1.17, b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n'
                  b'data: {"choices":[],"usage":{"prompt_tokens":288,"completion_tokens":128}}\n\ndata: [DONE]\n\n')
    tl.finish(1.18)
    assert rec.ttft_s is None and rec.finish_reason == "length" and rec.completion_tokens == 128
    if withheld:
        assert rec.ok and rec.error is None
        spec = _load(tools=[TOOL], tool_choice="required").workload.structured
        assert structured.check(spec, "tools", tl.reply(), tl.tool_calls(), rec.finish_reason) == (False, "no tool call (cut at max_tokens)")
    else:
        assert not rec.ok and rec.error.startswith("NoContent")


def test_tool_calls_are_not_kept_without_the_text():
    rec = RequestRecord(t_start=0.0)
    tl = StreamTimeline(rec)
    tl.feed(0.1, _sse({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]}))
    tl.feed(0.2, b"data: [DONE]\n\n")
    tl.finish(0.2)
    assert rec.ttft_s == 0.1 and tl.tool_calls() == []


def test_invalid_rate_and_kind_split_in_the_summary():
    from harness.load.stats import summarize

    def rec(i: int, kind: str, valid: bool | None, ttft: float) -> RequestRecord:
        return RequestRecord(t_start=float(i), ok=True, ttft_s=ttft, chunk_offsets_s=[ttft, ttft + 0.1], e2e_s=ttft + 0.1,
                             prompt_tokens=5, completion_tokens=2, kind=kind, output_valid=valid,
                             invalid_reason=None if valid in (True, None) else "not JSON")
    records = ([rec(i, "chat", None, 0.1) for i in range(4)] + [rec(10 + i, "json", i != 0, 0.3) for i in range(4)]
               + [rec(20 + i, "tools", i > 1, 0.5) for i in range(2)] + [RequestRecord(t_start=30.0, error="HTTP 500", kind="json")])
    s = summarize(records)
    assert (s.structured_requests, s.invalid_outputs) == (6, 3)  # the failed request is an error, not an invalid output
    assert s.invalid_output_rate == pytest.approx(0.5) and s.invalid_example == "not JSON"
    assert (s.ttft_chat_ms.p50, s.ttft_json_ms.p50, s.ttft_tools_ms.p50) == pytest.approx((100, 300, 500))
    assert s.tpot_json_ms.p50 == pytest.approx(100)
    flat = s.flat_metrics()
    assert flat["perf/invalid_output_rate"] == pytest.approx(0.5) and flat["perf/ttft_tools_p95_ms"] == pytest.approx(500)
    plain = summarize([rec(i, "chat", None, 0.1) for i in range(4)]).flat_metrics()
    assert "perf/invalid_output_rate" not in plain and "perf/ttft_chat_p50_ms" not in plain  # one kind: no split, no rate
    assert plain["perf/structured_requests"] == 0
