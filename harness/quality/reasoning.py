"""The reasoning rule (quality.reasoning), importable without lm-eval: what is cut from a reply before scoring.

A reply's separate reasoning field (`reasoning_content`, or vLLM's newer `reasoning`) is set aside
whole; in its content every match of the pattern (default harness.spec.model.DEFAULT_REASONING_PATTERN:
`<think>...</think>` blocks, an unclosed `<think>` to the end, a leading `...</think>`) is removed, and
what is left is stripped of surrounding whitespace. With no pattern (quality.reasoning.strip: false)
the content is scored exactly as the server sent it.
"""

from __future__ import annotations

import re

MODEL = "harness-chat-completions"
"""The harness's lm-eval model for generative tasks (harness/quality/lm_eval_model.py), registered by harness/quality/lm_eval_main.py."""
TARGET = "harness.quality.lm_eval_model:HarnessChatCompletion"
COMPLETIONS_MODEL, COMPLETIONS_TARGET = "harness-completions", "harness.quality.lm_eval_model:HarnessCompletions"
"""Its model for loglikelihood tasks (lm-eval's local-completions, replies checked the same way)."""
PATTERN_ENV, LOG_ENV = "HARNESS_REASONING_PATTERN", "HARNESS_REASONING_LOG"
"""How the rule reaches the lm-eval process: the pattern ('' = strip nothing) and the JSONL log of what was removed."""


def strip_reasoning(content: str | None, reasoning: str | None, pattern: re.Pattern[str] | None) -> tuple[str | None, int]:
    """(the reply as scored, characters of reasoning removed). `reasoning` is the reply's separate reasoning field."""
    if pattern is None:
        return content, 0
    removed = len(reasoning or "")
    if content is None:
        return ("" if reasoning else None), removed
    kept = pattern.sub("", content)
    removed += len(content) - len(kept)
    return (kept.strip() if removed else kept), removed
