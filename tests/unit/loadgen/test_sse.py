"""SSE parsing: role-only first chunk, empty deltas, usage chunk, [DONE], split lines."""

from __future__ import annotations

from harness.loadgen.sse import SSEDecoder, parse_chat_event


def _events(stream: bytes, step: int) -> list[str]:
    dec = SSEDecoder()
    out: list[str] = []
    for i in range(0, len(stream), step):
        out += list(dec.feed(stream[i : i + step]))
    return out + list(dec.close())


def test_real_vllm_stream_any_split(vllm_fixtures):
    raw = (vllm_fixtures / "chat_stream.sse").read_bytes()
    whole = _events(raw, len(raw))
    for step in (1, 3, 7, 64):
        assert _events(raw, step) == whole
    chunks = [parse_chat_event(e) for e in whole]
    assert chunks[-1].done
    text = "".join(c.content for c in chunks)
    assert text.startswith("The capital of France")
    assert chunks[0].content == ""  # role-only first chunk carries no content
    usage = [c.usage for c in chunks if c.usage]
    assert usage and usage[-1]["completion_tokens"] > 0


def test_crlf_comments_and_multiline_data():
    raw = b": keep-alive\r\ndata: a\r\ndata: b\r\n\r\nevent: x\ndata: c\n\n"
    assert _events(raw, 2) == ["a\nb", "c"]


def test_final_event_without_blank_line():
    assert _events(b"data: [DONE]", 4) == ["[DONE]"]


def test_chat_event_kinds():
    assert parse_chat_event('{"choices":[{"delta":{"role":"assistant","content":""}}]}').content == ""
    assert parse_chat_event('{"choices":[{"delta":{}}]}').content == ""
    c = parse_chat_event('{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}')
    assert c.usage == {"prompt_tokens": 5, "completion_tokens": 7} and c.content == ""
    c = parse_chat_event('{"choices":[{"delta":{"content":"hi"},"finish_reason":"length"}]}')
    assert c.content == "hi" and c.finish_reason == "length"
    assert parse_chat_event('{"choices":[{"delta":{"reasoning_content":"hmm"}}]}').reasoning == "hmm"
    assert parse_chat_event('{"error":{"message":"boom"}}').error == "StreamError: boom"
    assert parse_chat_event("{nope").error.startswith("MalformedStream: ")
    assert parse_chat_event(" [DONE]").done


def test_tool_call_deltas_are_parsed_as_output():
    """`delta.tool_calls` pieces come through (one choice or several); their name/argument text marks output tokens."""
    from harness.loadgen.sse import tool_call_text

    named = parse_chat_event('{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function",'
                             '"function":{"name":"get_weather","arguments":""}}]}}]}')
    assert named.content == "" and named.tool_calls[0]["function"]["name"] == "get_weather"
    assert tool_call_text(named.tool_calls) == "get_weather"
    piece = parse_chat_event('{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"ci"}}]}}]}')
    assert tool_call_text(piece.tool_calls) == '{"ci'
    two = parse_chat_event('{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"a"}}]}},'
                           '{"index":1,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"b"}}]}}]}')
    assert tool_call_text(two.tool_calls) == "ab"
    assert parse_chat_event('{"choices":[{"delta":{"tool_calls":null}}]}').tool_calls == ()
    assert tool_call_text(parse_chat_event('{"choices":[{"delta":{"tool_calls":[{"index":0,"type":"function"}]}}]}').tool_calls) == ""
