"""What the fidelity stage measures with: a frozen record the spec's section maps onto."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from harness.errors import FidelityError

if TYPE_CHECKING:
    from harness.spec.fidelity import FidelitySpec

Source = Literal["synthetic", "gsm8k", "ifeval"]


@dataclass(frozen=True)
class FidelitySettings:
    """A fixed, seeded prompt set sent greedily with `logprobs` to every variant."""

    prompts: int = 200
    """How many prompts (a few hundred separate Q4_0 from Q8_0 on a 135M model; see docs/metrics.md)."""
    max_tokens: int = 32
    """Tokens generated per prompt."""
    top_k: int = 5
    """`top_logprobs` asked for (OpenAI's limit is 20); the KL estimate sees only these tokens."""
    seed: int = 1234
    """Chooses the prompts, is sent as the request seed, and seeds the bootstrap."""
    concurrency: int = 1
    """Requests in flight; engines batch concurrent requests, which adds numerical noise."""
    source: Source = "synthetic"
    """synthetic: short templated questions; gsm8k / ifeval: questions read from the data directory."""
    data_dir: str | None = None
    """Holds gsm8k/test.jsonl and ifeval/input_data.jsonl; None = `HARNESS_DATA_DIR` (never downloaded)."""
    noise_floor: bool = True
    """Baseline only: send the prompts a second time and compare the two passes (the same comparison as a variant's)."""
    teacher_forcing: Literal["auto", "off"] = "auto"
    """auto: where the engine scores a given continuation (vLLM's prompt_logprobs), score the reference's whole
    output; off (and engines that cannot): compare positions up to the first differing token."""
    bootstrap: int = 1000
    """Resamples of the prompts for the confidence intervals."""
    confidence: float = 0.95
    request_timeout_s: float = 120.0
    timeout_s: float = 1800.0
    """Deadline for the whole stage; prompts not answered by then are left out (and said so)."""

    def __post_init__(self) -> None:
        problems = []
        if self.prompts < 1:
            problems.append("prompts must be >= 1")
        if not 1 <= self.max_tokens <= 4096:
            problems.append("max_tokens must be 1..4096")
        if not 1 <= self.top_k <= 20:
            problems.append("top_k must be 1..20 (the OpenAI API's top_logprobs limit)")
        if self.concurrency < 1:
            problems.append("concurrency must be >= 1")
        if self.bootstrap < 10:
            problems.append("bootstrap must be >= 10")
        if not 0.5 <= self.confidence < 1:
            problems.append("confidence must be in [0.5, 1)")
        if self.source not in ("synthetic", "gsm8k", "ifeval"):
            problems.append(f"source {self.source!r} must be synthetic, gsm8k or ifeval")
        if problems:
            raise FidelityError("fidelity settings: " + "; ".join(problems))


def settings_from_spec(spec: "FidelitySpec", data_dir: str | None = None) -> FidelitySettings:
    """The stage's settings from the spec's `fidelity` section; `data_dir` (quality.data_dir) fills an unset one."""
    return FidelitySettings(
        prompts=spec.prompts, max_tokens=spec.max_tokens, top_k=spec.top_k, seed=spec.seed, concurrency=spec.concurrency,
        source=spec.source, data_dir=spec.data_dir or data_dir, noise_floor=spec.noise_floor,
        teacher_forcing=spec.teacher_forcing, bootstrap=spec.bootstrap, confidence=spec.confidence,
        request_timeout_s=spec.request_timeout_s, timeout_s=spec.timeout_s,
    )
