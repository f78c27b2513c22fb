"""Error answers: which replies are the server erring, not the model answering, and what the harness makes of them.

The rule (no tolerance): a reply is an error answer when the server answered an HTTP error status, or HTTP 200 with
a body that is not a JSON object, carries `error` (OpenAI's error JSON), or has no `choices`. The harness's
lm-eval models (harness/quality/lm_eval_model.py) check every reply inside the lm-eval process, write one JSONL
line per error answer to `HARNESS_ERRORS_LOG` (the task, document, sha256 of the prompt and of the request, status
and the server's own message) and one `{"sent": {task: n}}` line per batch of requests, keep error answers out of lm-eval's request
cache, and stop lm-eval before it computes any metric from them. The harness reads the log back (`read_errors`):
any error answer fails the quality stage with the count and the server's message, so no score computed on an
error body is logged, reported, recommended or gated. A resumed variant asks only the failed requests again.

Importable without lm-eval (the lm-eval process imports it too).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ERRORS_ENV = "HARNESS_ERRORS_LOG"
"""How the errors log's path reaches the lm-eval process."""
MAX_MESSAGE = 300
"""Characters kept of a server's message."""


def server_message(body: Any) -> str:
    """The server's own words in an error body (OpenAI's `error.message`, a plain `error` or `message`), else the text."""
    if isinstance(body, (str, bytes)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            body = json.loads(text)
        except ValueError:
            return " ".join(text.split())[:MAX_MESSAGE] or "an empty body"
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            said = err.get("message") or err.get("msg") or err.get("type")
            return str(said)[:MAX_MESSAGE] if said else json.dumps(err)[:MAX_MESSAGE]
        if err:
            return str(err)[:MAX_MESSAGE]
        if body.get("message") or body.get("detail"):
            return str(body.get("message") or body.get("detail"))[:MAX_MESSAGE]
    return json.dumps(body)[:MAX_MESSAGE]


def error_reply(out: Any) -> str | None:
    """The server's message when `out` (one parsed HTTP 200 reply) is an error answer; None for a real reply."""
    if not isinstance(out, dict):
        return f"a reply that is not a JSON object: {json.dumps(out)[:MAX_MESSAGE]}"
    if out.get("error"):
        return server_message(out)
    choices = out.get("choices")
    if not isinstance(choices, list) or not choices:
        return "a reply with no choices"
    return None


@dataclass
class ErrorAnswers:
    """What the errors log says: each request that got an error answer, once (a retried one counts once)."""

    answers: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    """(harness task, request digest) -> (status, e.g. "400 Bad Request" or "200", the server's message)."""
    sent: Counter = field(default_factory=Counter)
    """harness task -> requests sent to the server (cache hits are not sent)."""

    def __bool__(self) -> bool:
        return bool(self.answers)

    def _said(self, http: bool) -> tuple[str, str]:
        """(the requests per task, the most frequent message quoted) of the HTTP-status or the HTTP-200 error answers."""
        picked = [(task, said) for (task, _), (status, said) in self.answers.items() if (status != "200") == http]
        per_task = Counter(task for task, _ in picked)
        counts = " and ".join(f"{n} of {max(self.sent[t], n)} {t}" if not http else f"{n} {t} request{'s' if n > 1 else ''}"
                              for t, n in sorted(per_task.items()))
        messages = Counter(said for _, said in picked)
        top, others = messages.most_common(1)[0][0], len(messages) - 1
        return counts, f"'{top}'" + (f" (and {others} other message{'s' if others > 1 else ''})" if others else "")

    def message(self, errors_log: Path, lm_eval_log: Path) -> str:
        """First line: the count and the server's message (the failure's headline); then where to look."""
        statuses = sorted({status for status, _ in self.answers.values() if status != "200"})
        bodies = sum(1 for status, _ in self.answers.values() if status == "200")
        if statuses:  # lm-eval retried, then stopped at the first request that kept failing
            counts, quoted = self._said(http=True)
            head = f"lm-eval stopped: the server answered HTTP {', '.join(statuses)} to {counts}: {quoted}"
            if bodies:
                head += f"; {bodies} more request{'s' if bodies > 1 else ''} got an error body with HTTP 200"
        else:
            counts, quoted = self._said(http=False)
            head = f"{counts} requests got an error answer from the server: {quoted} — no score is computed from error bodies"
        return f"{head}\nerror answers: {errors_log}; lm-eval's log: {lm_eval_log}"


def read_errors(path: Path, owner: dict[str, str]) -> ErrorAnswers:
    """The errors log read back; `owner` maps lm-eval task names to the harness's (a group's members to the group)."""
    out = ErrorAnswers()
    if not path.is_file():
        return out
    for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines()):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        for task, n in (rec.get("sent") or {}).items():
            out.sent[owner.get(task, task)] += int(n)
        if "status" not in rec:
            continue
        task = owner.get(str(rec.get("task")), str(rec.get("task") or "unknown task"))
        status = f"{rec['status']} {rec.get('reason') or ''}".strip()
        out.answers[(task, str(rec.get("request") or f"line {i}"))] = (status, str(rec.get("message") or "no message"))
    return out
