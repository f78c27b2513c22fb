"""The harness's lm-eval models (run inside the lm-eval process): every reply checked, reasoning removed and counted.

Only the standard library, lm-eval and harness/quality/{reasoning,error_answers}.py are imported here.

- `HarnessChatCompletion` (local-chat-completions) for generative tasks, `HarnessCompletions` (local-completions)
  for loglikelihood tasks. Both check every reply (harness/quality/error_answers.py states the rule): an HTTP
  error status (with the body lm-eval only logs) or an HTTP 200 error body is written to `HARNESS_ERRORS_LOG`
  (task, document, prompt hash, status, the server's message), kept out of lm-eval's request cache, and once
  the batch of requests is through, lm-eval is stopped (`ServerErrorAnswers`) before it scores anything.
- Each chat reply's reasoning is removed (harness/quality/reasoning.py states the rule) before lm-eval filters
  and scores it, with the pattern from `HARNESS_REASONING_PATTERN` (quality.reasoning.pattern; empty: the content
  as sent). For every reply one line goes to `HARNESS_REASONING_LOG` (JSONL): the sha256 of the prompt (lm-eval's
  `prompt_hash` in its samples) and the characters removed and kept, so the harness can report how much
  reasoning was cut per task.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import re
import threading
from collections import Counter
from typing import Any, Iterator

from lm_eval.models.openai_completions import LocalChatCompletion, LocalCompletionsAPI

from harness.quality.error_answers import ERRORS_ENV, error_reply, server_message
from harness.quality.reasoning import LOG_ENV, PATTERN_ENV, strip_reasoning

Key = tuple[str, ...]
"""One request: its prompt as lm-eval hashes it, then the continuation of a loglikelihood request."""
_KEYS: contextvars.ContextVar[list[Key | None] | None] = contextvars.ContextVar("harness_keys", default=None)
"""The requests being sent (one HTTP call); each asyncio task has its own context."""
_LOCK = threading.Lock()


class ServerErrorAnswers(RuntimeError):
    """The server answered some requests with errors: lm-eval stops before scoring (the harness reads the errors log)."""


class _ErrorText(str):
    """The placeholder a generative request that got an error answer returns: never cached, never scored."""


class _ErrorScore(tuple):
    """The placeholder a loglikelihood request that got an error answer returns: never cached, never scored."""


def _text(context: Any) -> str:
    """The prompt as lm-eval hashes it (a JsonChatStr's `prompt`, or the string)."""
    return context if isinstance(context, str) else getattr(context, "prompt", str(context))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _key(args: Any) -> Key | None:
    """A request's key from lm-eval's arguments (or cache key): (prompt,) or (context, continuation)."""
    if not args:
        return None
    rest = args[1] if len(args) > 1 and isinstance(args[1], str) else None
    return (_text(args[0]),) if rest is None else (_text(args[0]), rest)


class _SkipErrors:
    """lm-eval's cache hook, except for error answers (a resumed run asks those again)."""

    def __init__(self, hook: Any):
        self.hook = hook
        self.dbdict = getattr(hook, "dbdict", None)

    def add_partial(self, attr: str, req: Any, res: Any) -> None:
        if not isinstance(res, (_ErrorText, _ErrorScore)):
            self.hook.add_partial(attr, req, res)


class _Watched:
    """An aiohttp session whose non-2xx answers are recorded (with their body) before lm-eval raises and retries."""

    def __init__(self, session: Any, record: Any):
        self._session, self._record = session, record

    def post(self, *args: Any, **kwargs: Any) -> "_WatchedPost":
        return _WatchedPost(self._session.post(*args, **kwargs), self._record)


class _WatchedPost:
    def __init__(self, cm: Any, record: Any):
        self._cm, self._record = cm, record

    async def __aenter__(self) -> Any:
        response = await self._cm.__aenter__()
        if not response.ok:
            self._record(response.status, response.reason, server_message(await response.text()))  # aiohttp keeps the body
        return response

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._cm.__aexit__(*exc)


class _Checked:
    """Every reply checked; error answers recorded, kept out of the cache, and lm-eval stopped before scoring them."""

    def _setup_checks(self) -> None:
        self._errors_log = os.environ.get(ERRORS_ENV) or None
        self._index: dict[Key, Any] = {}
        self._tasks: list[str] = []
        self._failed = 0

    def set_cache_hook(self, cache_hook: Any) -> None:
        super().set_cache_hook(_SkipErrors(cache_hook))  # type: ignore[misc]

    @contextlib.contextmanager
    def _checking(self, requests: list[Any]) -> Iterator[None]:
        """Around one request method: which prompt belongs to which task and document; stop if any answer errored."""
        self._index = {key: r for r in requests if (key := _key(r.args)) is not None}
        counts = Counter(str(getattr(r, "task_name", None)) for r in requests)
        self._tasks, self._failed = list(counts), 0
        self._write({"sent": dict(counts)})
        try:
            yield
        finally:
            if self._failed:
                dbdict = getattr(self.cache_hook, "dbdict", None)  # type: ignore[attr-defined]
                if dbdict is not None:
                    dbdict.commit()  # the good answers survive for a resumed run
        if self._failed:
            raise ServerErrorAnswers(f"{self._failed} of {len(requests)} requests got an error answer from the server "
                                     f"(listed in {self._errors_log}); stopping before any of them is scored")

    def _write(self, record: dict) -> None:
        if self._errors_log:
            with _LOCK, open(self._errors_log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    def _record(self, status: int, reason: str | None, message: str, keys: list[Key | None] | None = None) -> None:
        """One line per request of the HTTP call that got an error answer (a retry of it writes the same `request`)."""
        for key in (keys if keys is not None else _KEYS.get()) or [None]:
            inst = self._index.get(key) if key is not None else None
            task = getattr(inst, "task_name", None) or (self._tasks[0] if len(self._tasks) == 1 else None)
            with _LOCK:
                self._failed += 1
            self._write({"task": task, "doc_id": getattr(inst, "doc_id", None), "prompt_hash": key and _digest(key[0]),
                         "request": key and _digest("\0".join(key)), "status": status, "reason": reason, "message": message})

    @staticmethod
    def _keys(messages: Any, generate: bool, cache_keys: list | None) -> list[Key | None]:
        if cache_keys:  # lm-eval's cache keys are the requests' arguments
            return [_key(k) for k in cache_keys]
        return [(_text(m),) if generate else None for m in messages]  # loglikelihood prompts sent as tokens: unknown

    def model_call(self, messages: Any, *, generate: bool = True, **kwargs: Any) -> Any:
        token = _KEYS.set(self._keys(messages, generate, None))
        try:
            return super().model_call(messages, generate=generate, **kwargs)  # type: ignore[misc]
        except Exception as exc:  # requests' HTTPError after raise_for_status: its body is the server's cause
            response = getattr(exc, "response", None)
            if response is not None and getattr(response, "status_code", None) is not None:
                self._record(response.status_code, response.reason, server_message(response.text))
            raise
        finally:
            _KEYS.reset(token)

    async def amodel_call(self, session: Any, sem: Any, messages: Any, *, generate: bool = True,
                          cache_keys: list | None = None, **kwargs: Any) -> Any:
        token = _KEYS.set(self._keys(messages, generate, cache_keys))  # each request runs in its own asyncio task
        try:
            return await super().amodel_call(_Watched(session, self._record), sem, messages,  # type: ignore[misc]
                                             generate=generate, cache_keys=cache_keys, **kwargs)
        finally:
            _KEYS.reset(token)

    def _errored(self, outputs: Any) -> tuple[list[Any], list[str]]:
        """(the replies that are real, the server's messages of those that are error answers)."""
        good, bad = [], []
        for out in outputs if isinstance(outputs, list) else [outputs]:
            said = error_reply(out)
            if said is None:
                good.append(out)
            else:
                bad.append(said)
        return good, bad

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        with self._checking(requests):
            return super().generate_until(requests, disable_tqdm=disable_tqdm)  # type: ignore[misc]

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        with self._checking(requests):
            return super().loglikelihood(requests, disable_tqdm=disable_tqdm)  # type: ignore[misc]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        with self._checking(requests):
            return super().loglikelihood_rolling(requests, disable_tqdm=disable_tqdm)  # type: ignore[misc]


class HarnessCompletions(_Checked, LocalCompletionsAPI):
    """local-completions (loglikelihood tasks: prompt log-probabilities) whose replies are checked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_checks()

    def parse_logprobs(self, outputs: Any, tokens: Any = None, ctxlens: Any = None, **kwargs: Any) -> list[tuple[float, bool]]:
        good, bad = self._errored(outputs)
        if bad:  # one reply scores a whole batch of prompts: the batch errored
            self._record(200, None, bad[0])
            return [_ErrorScore((float("-inf"), False)) for _ in ctxlens or [None]]
        return LocalCompletionsAPI.parse_logprobs(outputs=good, tokens=tokens, ctxlens=ctxlens, **kwargs)


class HarnessChatCompletion(_Checked, LocalChatCompletion):
    """local-chat-completions whose replies are checked and have the reasoning removed (and counted) before scoring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_checks()
        raw = os.environ.get(PATTERN_ENV, "")
        self._pattern = re.compile(raw) if raw else None
        self._log = os.environ.get(LOG_ENV) or None

    def parse_generations(self, outputs: dict | list[dict], **kwargs: Any) -> list[str]:
        contexts = kwargs.get("contexts")
        keys = [(_text(c),) for c in contexts] if contexts else (_KEYS.get() or [])
        res: list[Any] = []
        records = []
        for i, out in enumerate(outputs if isinstance(outputs, list) else [outputs]):
            key = keys[i] if i < len(keys) else None
            said = error_reply(out)
            if said is not None:
                self._record(200, None, said, [key])
                res.append(_ErrorText(""))
                continue
            try:
                choices = sorted(out["choices"], key=lambda c: c.get("index", 0))
                for choice in choices:
                    msg = choice.get("message") or {}
                    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
                    text, removed = strip_reasoning(msg.get("content"), reasoning, self._pattern)
                    res.append(text)
                    records.append((key, removed, len(text or "")))
            except (IndexError, KeyError, TypeError, AttributeError):
                res.append("")  # as lm-eval does: a blocked or malformed choice scores as empty
                records.append((key, 0, 0))
        if self._log and records:
            lines = [json.dumps({"prompt_hash": _digest(key[0]), "reasoning_chars": removed, "reply_chars": kept}) + "\n"
                     for key, removed, kept in records if key is not None]
            with _LOCK, open(self._log, "a", encoding="utf-8") as fh:
                fh.writelines(lines)
        return res
