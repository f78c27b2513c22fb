"""`load.workload`: what the requests look like beyond synthetic chats — a replayed trace, prefix-sharing pools,
agentic sessions, structured output and tool calls, prompts fitted to exact token lengths (docs/workloads.md).

At most one prompt source (`trace`, `prefix_pool`, `agentic`, or `load.dataset`); `structured` and `exact_lengths`
apply to whichever source is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from harness.spec.base import Strict
from harness.spec.load_dist import LengthDist

MAX_TRACE_SPEEDUP = 1000.0


def _existing(v: str, what: str) -> str:
    if not Path(v).expanduser().is_file():
        raise ValueError(f"{what} {v!r} does not exist (paths are relative to the working directory)")
    return v


class TraceSpec(Strict):
    """Replay a production trace: its arrival times (open loop), input and output lengths, session and prefix ids."""

    path: str = Field(..., description="JSONL or CSV file, one request per line/row (formats: docs/workloads.md).")
    format: Literal["auto", "harness", "mooncake", "azure"] = Field(
        "auto",
        description="harness: JSONL `{timestamp (s), input_tokens, output_tokens, session_id?, prefix_id?}`; mooncake: the Mooncake "
        "JSONL (`timestamp` ms, `input_length`, `output_length`, `hash_ids` of 512-token blocks, shared blocks = shared prefix); "
        "azure: the Azure LLM inference trace CSV (`TIMESTAMP`, `ContextTokens`, `GeneratedTokens`); auto: from the suffix and first line.",
    )
    speedup: float = Field(1.0, gt=0, le=MAX_TRACE_SPEEDUP, description="Time scaling: arrivals come `speedup` times faster than in the trace (2 = twice the rate).")
    start_s: float = Field(0.0, ge=0, description="Window start, in trace seconds after its first arrival.")
    duration_s: float | None = Field(None, gt=0, description="Window length in trace seconds; None = to the end of the trace. The window's arrivals, divided by `speedup`, "
                                       "are sent within the run (`load.warmup_s` + `load.duration_s`, the warm-up's replayed but not measured); later ones are not sent.")
    max_output_tokens: int | None = Field(None, ge=1, description="Cap on a request's output length (max_tokens); None = the trace's own.")

    @field_validator("path")
    @classmethod
    def _exists(cls, v: str) -> str:
        return _existing(v, "trace file")


class PrefixPoolSpec(Strict):
    """N groups, each sharing a prefix of `prefix_tokens`, with a per-request suffix: what prefix caching and routing pay off on."""

    groups: int = Field(..., ge=1, le=100_000, description="Number of distinct shared prefixes.")
    prefix_tokens: int = Field(..., ge=1, le=1_000_000, description="Length of each group's shared prefix, in tokens.")
    suffix_tokens: LengthDist = Field(default_factory=lambda: LengthDist(mean=64), description="Length of each request's own suffix (after the prefix), in tokens.")
    mix: list[float] | None = Field(None, description="Relative weight of each group (length `groups`); None = every group equally often.")

    @model_validator(mode="after")
    def _mix(self) -> "PrefixPoolSpec":
        if self.mix is not None:
            if len(self.mix) != self.groups:
                raise ValueError(f"mix has {len(self.mix)} weights for {self.groups} groups: give one weight per group or leave it out")
            if any(w < 0 for w in self.mix) or sum(self.mix) <= 0:
                raise ValueError("mix weights must be >= 0 with a positive sum")
        return self


class AgenticSpec(Strict):
    """Sessions whose context grows turn by turn: a task, then (model reply + tool result) per turn, up to a cap."""

    turns: int = Field(4, ge=1, le=1000, description="Turns per session (the first sends the task, each later one the previous reply and a tool result).")
    tool_result_tokens: LengthDist = Field(default_factory=lambda: LengthDist(mean=256), description="Size of each tool-result message, in tokens.")
    think_time_s: float = Field(0.0, ge=0, le=3600, description="Pause between a reply and the session's next request (the agent's own work).")
    max_context_tokens: int = Field(8192, ge=64, description="A session ends early when its next request would exceed this many prompt tokens (estimated).")


class StructuredSpec(Strict):
    """Requests with a JSON-schema `response_format` and/or `tools`, validated on the client."""

    json_schema: dict[str, Any] | str | None = Field(None, description="A JSON schema (inline, or a path to a .json file) sent as `response_format: {type: json_schema}`; replies must parse and validate.")
    tools: list[dict[str, Any]] | str | None = Field(None, description="OpenAI `tools` (inline, or a path to a .json file holding the list); replies must carry well-formed tool calls.")
    tool_choice: Literal["auto", "required"] = Field("required", description="`tool_choice` sent with `tools`.")
    ratio: float = Field(1.0, gt=0, le=1, description="Fraction of requests that are structured (seeded); the rest are plain chats, reported apart.")

    @model_validator(mode="after")
    def _some(self) -> "StructuredSpec":
        if self.json_schema is None and self.tools is None:
            raise ValueError("structured needs `json_schema` or `tools` (or both)")
        for name in ("json_schema", "tools"):
            v = getattr(self, name)
            if isinstance(v, str):
                _existing(v, f"structured.{name} file")
        from jsonschema import SchemaError, validators  # lazy: only specs with `structured` pay for it

        checks = [("json_schema", self.schema())] if self.json_schema is not None else []
        names: set[str] = set()
        for i, tool in enumerate(self.tool_list()):
            fn = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                raise ValueError(f"structured.tools[{i}]: each tool is `{{type: function, function: {{name, description?, "
                                 "parameters?}}}}` (OpenAI's shape)")
            if fn["name"] in names:
                raise ValueError(f"structured.tools[{i}]: a second tool named {fn['name']!r}: tool names must differ")
            names.add(fn["name"])
            checks.append((f"tools[{i}].function.parameters", fn.get("parameters", {"type": "object"})))
        for where, schema in checks:
            if not isinstance(schema, dict):
                raise ValueError(f"structured.{where}: a JSON schema is an object, not {type(schema).__name__}")
            try:
                validators.validator_for(schema).check_schema(schema)
            except SchemaError as exc:
                raise ValueError(f"structured.{where} is not a valid JSON schema: {exc.message}") from None
        return self

    def schema(self) -> dict[str, Any]:
        """The JSON schema, read from its file when `json_schema` is a path."""
        return _json_file(self.json_schema, "json_schema") if isinstance(self.json_schema, str) else dict(self.json_schema or {})

    def tool_list(self) -> list[dict[str, Any]]:
        """The tools, read from their file when `tools` is a path."""
        tools = _json_file(self.tools, "tools") if isinstance(self.tools, str) else list(self.tools or [])
        if not isinstance(tools, list):
            raise ValueError("structured.tools file: holds a JSON list of tools")
        return tools


def _json_file(path: str, what: str) -> Any:
    import json

    try:
        return json.loads(Path(path).expanduser().read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"structured.{what} file {path!r} is not readable JSON: {exc}") from None


class WorkloadSpec(Strict):
    """Workloads beyond synthetic chats; at most one of `trace`, `prefix_pool`, `agentic` (and not with `load.dataset`)."""

    trace: TraceSpec | None = Field(None, description="Replay a trace (needs `load.pattern: trace`).")
    prefix_pool: PrefixPoolSpec | None = Field(None, description="Prefix-sharing groups with per-request suffixes.")
    agentic: AgenticSpec | None = Field(None, description="Agentic sessions with tool results and growing context.")
    structured: StructuredSpec | None = Field(None, description="Structured output / tool-call requests, validated client-side.")
    exact_lengths: str | None = Field(
        None,
        description="Fit synthetic prompts to their target token counts before the load starts: `server` (the server's POST /tokenize) "
        "or a tokenizer (a tokenizer.json, a folder holding one, a .gguf file). None = word counts (one word ~ one token), checked after.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> "WorkloadSpec":
        given = [n for n in ("trace", "prefix_pool", "agentic") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"load.workload: give at most one prompt source, not {' and '.join(given)}")
        return self

    @property
    def source(self) -> str | None:
        """The prompt source named here, if any."""
        return next((n for n in ("trace", "prefix_pool", "agentic") if getattr(self, n) is not None), None)
