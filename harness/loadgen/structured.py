"""Structured output and tool calls (`load.workload.structured`): which requests ask for them, their body fields, and
the client-side check of each reply (docs/workloads.md).

Pure code (no network), in the Locust process. `wrap` puts a `Structured` source around whatever prompt source the
spec uses (synthetic, dataset, trace, prefix pool, agentic): with probability `ratio` (seeded by the user's stream) a
request becomes structured — `kind` "json" (`response_format: json_schema`) or "tools" (`tools` + `tool_choice`);
given both, each structured request is one or the other with even odds — and the rest stay `kind` "chat". `check`
validates a reply: JSON kind, the text parses and validates against the schema; tools kind, every streamed tool call
names an offered tool and its arguments parse and validate against that tool's `parameters`.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from typing import Any

from harness.loadgen.workload import ChatRequest, Source
from harness.spec.load import LoadSpec
from harness.spec.workload import StructuredSpec

JSON, TOOLS, CHAT = "json", "tools", "chat"
KINDS = (JSON, TOOLS)
"""The kinds of structured request (checked); `chat` requests are not."""
REASON_CHARS = 160
"""The longest `invalid_reason` kept."""


@dataclass(frozen=True)
class Plan:
    """What a process's structured requests carry and how their replies are checked (built once per process)."""

    extras: dict[str, dict[str, Any]]
    """kind -> the body fields a request of that kind gets."""
    schema_validator: Any | None
    """The JSON schema's validator (jsonschema), None without `json_schema`."""
    tool_validators: dict[str, Any]
    """Offered tool name -> its `parameters` validator."""
    tool_choice: str


_PLANS: dict[int, tuple[StructuredSpec, Plan]] = {}


def plan(spec: StructuredSpec) -> Plan:
    """The spec's plan, built on first use in this process (files read, validators compiled once)."""
    held = _PLANS.get(id(spec))
    if held is None or held[0] is not spec:
        held = _PLANS[id(spec)] = (spec, _build(spec))
    return held[1]


def _validator(schema: dict[str, Any]) -> Any:
    from jsonschema import validators

    return validators.validator_for(schema)(schema)


def _schema_name(schema: dict[str, Any]) -> str:
    """`json_schema.name` (OpenAI: a-z, A-Z, 0-9, _ and -, at most 64): the schema's title, else `response`."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(schema.get("title") or "")).strip("_")[:64]
    return name or "response"


def _build(spec: StructuredSpec) -> Plan:
    extras: dict[str, dict[str, Any]] = {}
    schema_validator = None
    if spec.json_schema is not None:
        schema = spec.schema()
        extras[JSON] = {"response_format": {"type": "json_schema",
                                            "json_schema": {"name": _schema_name(schema), "schema": schema, "strict": True}}}
        schema_validator = _validator(schema)
    tool_validators: dict[str, Any] = {}
    if spec.tools is not None:
        tools = spec.tool_list()
        extras[TOOLS] = {"tools": tools, "tool_choice": spec.tool_choice}
        tool_validators = {t["function"]["name"]: _validator(t["function"].get("parameters", {"type": "object"})) for t in tools}
    return Plan(extras, schema_validator, tool_validators, spec.tool_choice)


class Structured:
    """A prompt source whose requests are made structured at the spec's ratio; replies go back to the inner source."""

    def __init__(self, inner: Source, spec: StructuredSpec, seed: int, stream: int):
        self.inner = inner
        self.spec = spec
        self.plan = plan(spec)
        self.kinds = [k for k in KINDS if k in self.plan.extras]
        self.rng = random.Random(f"{seed}:{stream}:structured")

    def next(self, index: int | None = None) -> ChatRequest:
        req = self.inner.next(index)
        # two draws every request, whatever the outcome: the choice of one request never shifts the next one's
        structured, pick = self.rng.random() < self.spec.ratio, self.rng.randrange(len(self.kinds))
        if not structured:
            return req
        kind = self.kinds[pick]
        return replace(req, extra={**req.extra, **self.plan.extras[kind]}, kind=kind)

    @property
    def keeps_replies(self) -> bool:
        return self.inner.keeps_replies

    def reply(self, text: str | None) -> None:
        self.inner.reply(text)


def wrap(load: LoadSpec, stream: int, inner: Source) -> Source:
    """`inner`, made structured when the spec asks (`load.workload.structured`), else `inner` itself."""
    spec = load.workload.structured
    return inner if spec is None else Structured(inner, spec, load.seed, stream)


def _first_error(validator: Any, value: Any) -> str | None:
    from jsonschema.exceptions import best_match

    err = best_match(validator.iter_errors(value))
    if err is None:
        return None
    where = "/".join(str(p) for p in err.absolute_path)
    return f"{where or '(root)'}: {err.message}"


def _cut(reason: str) -> str:
    return reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 3] + "..."


def check(spec: StructuredSpec, kind: str, text: str, tool_calls: list[dict[str, str]], finish_reason: str | None = None
          ) -> tuple[bool, str | None]:
    """(valid, why not) for a structured reply: `text` is the streamed content, `tool_calls` the streamed calls
    (`{"name", "arguments"}` each, arguments as received). A reply cut by `max_tokens` says so in its reason."""
    p = plan(spec)
    cut = " (cut at max_tokens)" if finish_reason == "length" else ""
    if kind == JSON:
        try:
            value = json.loads(text)
        except ValueError as exc:
            return False, _cut(f"not JSON{cut}: {exc.msg} at char {exc.pos}" if text.strip() else f"no content{cut}")
        err = _first_error(p.schema_validator, value)
        return (True, None) if err is None else (False, _cut(f"schema: {err}"))
    if kind == TOOLS:
        if not tool_calls:
            if p.tool_choice == "auto":  # the model may answer in words
                return True, None
            return False, _cut(f"no tool call{cut}")
        for call in tool_calls:
            name = call.get("name") or ""
            validator = p.tool_validators.get(name)
            if validator is None:
                return False, _cut(f"tool {name!r} was not offered" if name else "a tool call without a name")
            try:
                args = json.loads(call.get("arguments") or "{}")
            except ValueError as exc:
                return False, _cut(f"{name}: arguments not JSON{cut}: {exc.msg} at char {exc.pos}")
            err = _first_error(validator, args)
            if err is not None:
                return False, _cut(f"{name}: arguments: {err}")
        return True, None
    raise ValueError(f"not a structured kind: {kind!r}")
