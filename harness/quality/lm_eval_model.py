"""The harness's lm-eval model: local-chat-completions plus the reasoning rule (runs inside the lm-eval process).

Only the standard library, lm-eval and harness/quality/reasoning.py are imported here. Each reply's
reasoning is removed (harness/quality/reasoning.py states the rule) before lm-eval filters and scores
it, with the pattern from `HARNESS_REASONING_PATTERN` (quality.reasoning.pattern; empty: the content
as sent). For every reply one line goes to `HARNESS_REASONING_LOG` (JSONL): the sha256 of the
prompt (lm-eval's `prompt_hash` in its samples) and the characters removed and kept, so the harness
can report how much reasoning was cut per task.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import re
import threading
from typing import Any

from lm_eval.models.openai_completions import LocalChatCompletion

from harness.quality.reasoning import LOG_ENV, MODEL, PATTERN_ENV, strip_reasoning  # noqa: F401

_PROMPT: contextvars.ContextVar[Any] = contextvars.ContextVar("harness_prompt", default=None)
_LOCK = threading.Lock()


def _text(context: Any) -> str:
    """The prompt as lm-eval hashes it (a JsonChatStr's `prompt`, or the string)."""
    return getattr(context, "prompt", context) if not isinstance(context, str) else context


class HarnessChatCompletion(LocalChatCompletion):
    """local-chat-completions whose replies have the reasoning removed (and counted) before scoring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        raw = os.environ.get(PATTERN_ENV, "")
        self._pattern = re.compile(raw) if raw else None
        self._log = os.environ.get(LOG_ENV) or None

    def model_call(self, messages: Any, **kwargs: Any) -> Any:
        token = _PROMPT.set(messages)
        try:
            return super().model_call(messages, **kwargs)
        finally:
            _PROMPT.reset(token)

    async def amodel_call(self, session: Any, sem: Any, messages: Any, **kwargs: Any) -> Any:
        token = _PROMPT.set(messages)  # each request runs in its own asyncio task: its own context
        try:
            return await super().amodel_call(session, sem, messages, **kwargs)
        finally:
            _PROMPT.reset(token)

    def parse_generations(self, outputs: dict | list[dict], **kwargs: Any) -> list[str]:
        contexts = kwargs.get("contexts") or _PROMPT.get() or []
        res: list[Any] = []
        records = []
        for out in outputs if isinstance(outputs, list) else [outputs]:
            try:
                choices = sorted(out["choices"], key=lambda c: c.get("index", 0))
                for choice in choices:
                    msg = choice.get("message") or {}
                    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
                    text, removed = strip_reasoning(msg.get("content"), reasoning, self._pattern)
                    res.append(text)
                    records.append((removed, len(text or "")))
            except (IndexError, KeyError, TypeError, AttributeError):
                res.append("")  # as lm-eval does: a blocked or malformed reply scores as empty
                records.append((0, 0))
        if self._log:
            lines = []
            for i, (removed, kept) in enumerate(records):
                ctx = contexts[i] if i < len(contexts) else None
                digest = hashlib.sha256(_text(ctx).encode("utf-8")).hexdigest() if ctx is not None else None
                lines.append(json.dumps({"prompt_hash": digest, "reasoning_chars": removed, "reply_chars": kept}) + "\n")
            with _LOCK, open(self._log, "a", encoding="utf-8") as fh:
                fh.writelines(lines)
        return res
