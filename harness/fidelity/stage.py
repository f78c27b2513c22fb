"""The fidelity stage: send the prompt set, keep (or compare against) the baseline's tokens and top-k log-probabilities.

    baseline = FidelityRun(spec.fidelity, endpoint, folder / "fidelity").start().finish()
    # baseline.reference_path: fidelity/reference.jsonl; baseline.comparison: its second pass (the noise floor)
    variant = FidelityRun(spec.fidelity, other_endpoint, folder2 / "fidelity", reference=load_reference(path)).start().finish()

A variant is sent the reference's own prompts (read from the file), so a later sweep compares
like for like without relaunching the baseline. Requests go out `concurrency` at a time from a
background thread; `stop()` lets the ones in flight finish and compares what was answered.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import httpx

from harness.errors import Failure, FidelityError
from harness.fidelity.client import Dialect, FidelityClient, ForcingUnavailable
from harness.fidelity.compare import Comparison, compare
from harness.fidelity.prompts import FidelityPrompt, build_prompts
from harness.fidelity.records import Generation, PassInfo, Reference, save_pass
from harness.fidelity.saved import GENERATIONS_FILE, REFERENCE_FILE  # noqa: F401  (re-exported)
from harness.server.endpoint import Endpoint
from harness.spec.fidelity import FidelitySpec
from harness.stage import Progress


@dataclass
class FidelityResult:
    """What the stage measured. For the baseline, `comparison` is its second pass against its first: the noise floor."""

    role: Literal["baseline", "variant"]
    comparison: Comparison | None
    reference_path: Path | None
    """The baseline's first pass (`fidelity/reference.jsonl`): what later sweeps compare against."""
    generations_path: Path | None
    """This pass's generations (a variant's; the baseline's second pass), in the same format."""
    sent: int
    answered: int
    duration_s: float
    spec: FidelitySpec
    """The section the pass was made with."""
    notes: list[str] = field(default_factory=list)
    """How the comparison was made when that differs from what was asked (e.g. teacher forcing unavailable)."""
    failures: list[Failure] = field(default_factory=list)
    compared_to: Path | None = None
    """A variant's: the reference file it was compared against."""

    @property
    def noise_floor(self) -> Comparison | None:
        return self.comparison if self.role == "baseline" else None

    def flat_metrics(self, prefix: str = "fidelity/", noise_floor: Comparison | None = None) -> dict[str, float]:
        """`fidelity/<metric>[_ci_low|_ci_high]`; the noise floor (this baseline's, or one given) as `fidelity/noise/...`."""
        out: dict[str, float] = {f"{prefix}duration_s": self.duration_s}
        if self.comparison is not None:
            out.update(self.comparison.metrics(prefix))
        floor = self.noise_floor or noise_floor
        if floor is not None:
            out.update(floor.metrics(f"{prefix}noise/"))
        return out


class FidelityRun:
    """The Stage: start -> running/progress -> (stop) -> finish -> FidelityResult."""

    name = "fidelity"

    def __init__(self, spec: FidelitySpec, endpoint: Endpoint, folder: Path, reference: Reference | None = None,
                 prompts: list[FidelityPrompt] | None = None, dialect: Dialect | None = None):
        self.spec = spec
        self.dialect = dialect
        """How the server is asked to score a continuation; None = learned from its first reply."""
        self._dialect: Dialect | None = dialect
        self.endpoint = endpoint
        self.folder = Path(folder)
        self.reference = reference
        if reference is not None:  # the reference's own prompts, in its order
            self.prompts = [FidelityPrompt(g.prompt_id, g.prompt) for g in reference.generations.values()]
        else:
            self.prompts = prompts if prompts is not None else build_prompts(spec)
        passes = 1 if reference is not None or not spec.noise_floor else 2
        self._total = passes * len(self.prompts)
        self._done = 0
        self._answered = 0
        self._label = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._result: FidelityResult | None = None
        self._error: BaseException | None = None
        self._failures: list[Failure] = []
        self._notes: list[str] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------ Stage
    def start(self) -> "FidelityRun":
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._main, name="fidelity", daemon=True)
        self._thread.start()
        return self

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def progress(self) -> Progress:
        return Progress(self.name, self._done, self._total, " prompts", self._label)

    def stop(self) -> None:
        self._stop.set()

    def finish(self) -> FidelityResult:
        if self._thread is None:
            raise FidelityError("fidelity stage was never started")
        self._thread.join()
        if self._error is not None:
            if isinstance(self._error, FidelityError):
                raise self._error
            raise FidelityError(f"fidelity: {type(self._error).__name__}: {self._error}") from self._error
        assert self._result is not None
        return self._result

    # ------------------------------------------------------------ the work
    def _main(self) -> None:
        try:
            self._result = self._measure()
        except BaseException as exc:  # re-raised in finish(), on the caller's thread
            self._error = exc

    def _measure(self) -> FidelityResult:
        s = self.spec
        timeout = httpx.Timeout(s.request_timeout_s, connect=5.0)
        limits = httpx.Limits(max_connections=s.concurrency, max_keepalive_connections=s.concurrency)
        with httpx.Client(timeout=timeout, limits=limits) as http:
            client = FidelityClient(self.endpoint, http, s.seed, self.dialect)
            if self.prompts:
                self._dialect = client.probe(self.prompts[0], s.max_tokens, s.top_k)
            if self.reference is not None:
                info = self._info(self.reference.info)
                gens = self._pass(client, info, self.reference, "against the reference")
                path = save_pass(self.folder / GENERATIONS_FILE, gens, info)
                comparison = self._compare(self.reference, gens)
                result = self._done_result("variant", comparison, None, path)
                result.compared_to = self.reference.path
                return result
            info = self._info(None)
            first = self._pass(client, info, None, "reference pass" if s.noise_floor else "")
            if not first:
                raise FidelityError(self._why_empty("the reference pass"))
            ref_path = save_pass(self.folder / REFERENCE_FILE, first, info)
            comparison, path = None, None
            if s.noise_floor and not self._stop.is_set():
                ref = Reference({g.prompt_id: g for g in first}, info, ref_path)
                second = self._pass(client, info, ref, "noise-floor pass")
                path = save_pass(self.folder / GENERATIONS_FILE, second, info)
                comparison = self._compare(ref, second) if second else None
            return self._done_result("baseline", comparison, ref_path, path)

    def _info(self, ref_info: PassInfo | None) -> PassInfo:
        """This pass's settings; against a reference, its max_tokens and top_k (like for like)."""
        s = self.spec
        return PassInfo(ref_info.max_tokens if ref_info else s.max_tokens, ref_info.top_k if ref_info else s.top_k, s.seed,
                        ref_info.source if ref_info else s.source, self.endpoint.engine, self.endpoint.model,
                        self.endpoint.base_url, dict(self.endpoint.info), time.time())

    def _pass(self, client: FidelityClient, info: PassInfo, reference: Reference | None, label: str) -> list[Generation]:
        """Every prompt once, `concurrency` at a time; teacher-forced against `reference` where the engine can."""
        self._label = label
        force = [reference is not None and client.can_force and self.spec.teacher_forcing == "auto"]
        deadline = self._started + self.spec.timeout_s
        results: dict[str, Generation] = {}
        errors: list[str] = []

        def one(prompt: FidelityPrompt) -> Generation:
            gen = client.generate(prompt, info.max_tokens, info.top_k)
            if force[0] and reference is not None and prompt.id in reference.generations:
                try:
                    gen = replace(gen, forced=client.force(gen, reference.generations[prompt.id], info.top_k))
                except ForcingUnavailable as exc:
                    with self._lock:
                        if force[0]:
                            force[0] = False
                            self._notes.append(f"teacher forcing unavailable ({exc}); compared up to the first divergence")
            return gen

        pending = list(self.prompts)
        with ThreadPoolExecutor(self.spec.concurrency, thread_name_prefix="fidelity") as pool:
            inflight: dict[Future, FidelityPrompt] = {}
            while pending or inflight:
                while pending and len(inflight) < self.spec.concurrency and not self._stop.is_set() and time.monotonic() < deadline:
                    prompt = pending.pop(0)
                    inflight[pool.submit(one, prompt)] = prompt
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in done:
                    prompt = inflight.pop(fut)
                    self._done += 1
                    try:
                        results[prompt.id] = fut.result()
                        self._answered += 1
                    except FidelityError as exc:
                        errors.append(f"{prompt.id}: {exc}")
        self._account(label, len(self.prompts), pending, errors)
        gens = [results[p.id] for p in self.prompts if p.id in results]
        if force[0] is False and reference is not None:
            gens = [replace(g, forced=None) for g in gens]  # one method for the whole comparison
        return gens

    def _account(self, label: str, total: int, pending: list[FidelityPrompt], errors: list[str]) -> None:
        where = f" ({label})" if label else ""
        if errors:
            first = errors[0].splitlines()[0]
            self._failures.append(Failure("fidelity", f"{len(errors)} of {total} fidelity prompts failed{where}; first: {first}",
                                          "FidelityError"))
        if pending:
            why = "stopped" if self._stop.is_set() else f"the {self.spec.timeout_s:.0f} s deadline passed"
            self._failures.append(Failure("fidelity", f"{len(pending)} of {total} fidelity prompts not sent{where}: {why}",
                                          "FidelityError"))

    def _compare(self, reference: Reference, gens: list[Generation]) -> Comparison:
        if not gens:
            raise FidelityError(self._why_empty("this pass"))
        s = self.spec
        return compare(reference, gens, bootstrap=s.bootstrap, confidence=s.confidence, seed=s.seed)

    def _why_empty(self, what: str) -> str:
        reasons = "; ".join(f.message for f in self._failures) or "no prompt was sent"
        return f"fidelity: {what} produced no answers ({reasons})"

    def _done_result(self, role: Literal["baseline", "variant"], comparison: Comparison | None, ref_path: Path | None,
                     path: Path | None) -> FidelityResult:
        if comparison is not None and comparison.method == "first_divergence" and not self._notes:
            why = "teacher forcing is off" if self.spec.teacher_forcing == "off" else \
                "the server's answers show no way to score a given continuation (no token ids, no prompt_token_ids)"
            self._notes.append(f"compared up to and including the first differing token: {why}")
        elif comparison is not None and comparison.method == "teacher_forcing" and self._dialect is not None:
            self._notes.append(f"teacher-forced through {self._dialect.how}: "
                               f"{comparison.coverage:.1%} of the reference's positions scored")
        return FidelityResult(role, comparison, ref_path, path, self._total, self._answered,
                              time.monotonic() - self._started, self.spec, list(self._notes), list(self._failures))
