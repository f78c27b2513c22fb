"""What every engine declares: how it starts, what it logs, how its metrics are named, how it tokenizes.

An engine module subclasses `Engine`, overrides what differs from the defaults here and sets
`ENGINE = TheEngine()`; the package `__init__` finds and registers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel

from harness.redaction import GIVEN_KEY_ENV, flag_secrets
from harness.server.endpoint import Endpoint
from harness.server.model_facts import bits_from, gguf_type
from harness.spec.model import ServerSpec

if TYPE_CHECKING:
    from harness.server.model_source import ResolvedModel


@dataclass(frozen=True)
class Launch:
    """The process that serves one variant: argv (a list, never a shell string) and its extra environment."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    inherits_env: bool = True
    """False when the server does not see the harness's environment (a container gets only `docker run -e`)."""


@dataclass(frozen=True)
class MetricNames:
    """Harness name -> this engine's Prometheus names for it, in order (the first present in a scrape wins)."""

    gauges: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Sampled over the window -> mean and max."""
    counters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Delta over the window (sample names, *_total)."""
    histograms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Base names (no _bucket/_sum/_count): window deltas -> mean and quantiles."""


@dataclass(frozen=True)
class Cause:
    """A recognisable text in a failed server's log and the one-line diagnosis it stands for."""

    pattern: re.Pattern[str]
    text: str
    transient: bool = False
    """The failure may pass by itself (GPU memory a just-stopped server is still freeing): a start failing on it is
    retried after the memory falls (server.startup_retries, harness/server/launch.py); any other cause fails at once."""


def cause(pattern: str, text: str, transient: bool = False) -> Cause:
    return Cause(re.compile(pattern, re.I), text, transient)


class Engine:
    """One serving engine (or the attach-only `openai` kind). Instances are stateless; one per kind."""

    kind: ClassVar[str]
    """The spec's `server.kind`."""
    launches: ClassVar[bool] = True
    """False: the harness attaches to a running endpoint (`launch` is never called)."""
    model_form: ClassVar[Literal["file", "repo"]] = "repo"
    """What `server.model` must resolve to: one file (a GGUF) or a model folder / Hub repo id."""
    section: ClassVar[str | None] = None
    """The `ServerSpec` attribute holding this engine's settings (logged as `server.<section>.*` params)."""
    knobs: ClassVar[tuple[str, ...]] = ()
    """Numeric or boolean settings of `section` logged as `knob/<name>` metrics when set."""
    slots_knob: ClassVar[str | None] = None
    """The knob bounding how many sequences decode together (for the roofline's batch)."""
    metric_names: ClassVar[MetricNames] = MetricNames()
    causes: ClassVar[tuple[Cause, ...]] = ()
    """Engine-specific likely causes of a failed start, checked before the generic ones (server/process.py)."""
    env_prefixes: ClassVar[tuple[str, ...]] = ()
    """Inherited environment variables that change what the engine does (recorded with the run)."""
    default_bits_per_weight: ClassVar[float | None] = None
    """Bits per weight when neither the settings nor the model name say (for the roofline)."""
    key_env: ClassVar[str | None] = None
    """The variable the engine reads its API key from (set from `server.api_key_env`; never in argv)."""
    key_flag: ClassVar[str | None] = None
    """The flag giving the server its API key on the command line (`--api-key K` in server.extra_args): the harness
    then sends that key itself (`given_key`, as for `key_env` in server.env); it is redacted from everything written."""
    distributions: ClassVar[tuple[str, ...]] = ()
    """Python distributions whose installed versions are logged with each run."""
    install_hint: ClassVar[str] = "Install it, or give its full path in the spec"
    """How to get the executable, for the message when it is missing."""
    uses_gpu: ClassVar[bool] = False
    """A launched server of this kind computes on this machine's GPUs: before it starts, other processes holding memory
    there are reported (one server per GPU; harness/server/gpu_memory.py)."""
    computes_on_host_cpu: ClassVar[bool] = False
    """A launched server of this kind computes on this machine's CPU (llama.cpp here): the quality stage's boot
    (lm-eval's imports take a core for tens of seconds) would slow it inside the load's window, so the load waits
    for lm-eval's first request. Elsewhere (a GPU server) the load starts first and lm-eval meets it running."""
    health_path: ClassVar[str] = "/health"
    """Probed for liveness while a variant runs (any HTTP answer counts as alive)."""
    prompt_logprobs: ClassVar[bool | None] = False
    """Returns the log-probabilities of a prompt's own tokens (`/v1/completions` with `echo` and `logprobs`), which
    lm-eval's loglikelihood tasks need (harness/quality/preflight.py); None = unknown (an attached endpoint)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.launches and cls.launch is Engine.launch:
            raise TypeError(f"{cls.__name__} launches a server but does not define launch()")

    # ------------------------------------------------------------ starting
    def launch(self, server: ServerSpec, model: str, port: int) -> Launch:
        """argv and env starting the server for `model` (a resolved path or repo id) on `port`."""
        raise TypeError(f"server.kind={self.kind} attaches to an endpoint; it launches nothing")

    def prepare_model(self, server: ServerSpec, model: "ResolvedModel") -> "ResolvedModel":
        """The model the server is given, from the resolved source (e.g. a quantization derived from it); default: as is."""
        return model

    def env(self, server: ServerSpec) -> dict[str, str]:
        """The server's extra environment: the spec's `env`, plus the API key under `key_env` when one is configured."""
        env = dict(server.env)
        if self.key_env and server.api_key_env and os.environ.get(server.api_key_env):
            env[self.key_env] = os.environ[server.api_key_env]
        return env

    def given_key(self, server: ServerSpec) -> str | None:
        """The API key the spec gives the server itself: the key flag in `server.extra_args` (the last `--api-key K`,
        `--api-key=K` or `--api_key K`, as the servers' parsers read them; the first of `k1,k2`), else `server.env`'s
        `key_env` (LLAMA_API_KEY, VLLM_API_KEY), which the flag overrides; None when neither is there."""
        keys = [value for flag, value in flag_secrets(server.extra_args) if flag.replace("_", "-") == self.key_flag]
        key = keys[-1] if keys else server.env.get(self.key_env or "")
        return key.split(",")[0] if key else None

    def endpoint(self, server: ServerSpec, port: int | None) -> Endpoint:
        """Where the server answers: a launched one on `host:port` (all-interfaces binds reached on loopback), with the
        key of `server.api_key_env`, else the one the spec gives the server (`given_key`, exported as GIVEN_KEY_ENV by `serve`)."""
        host = "127.0.0.1" if server.host in ("0.0.0.0", "::") else server.host
        return Endpoint(
            base_url=f"http://{host}:{port}",
            model=server.served_model_name,
            metrics_url=f"http://{host}:{port}/metrics",
            api_key_env=server.api_key_env or (GIVEN_KEY_ENV if self.given_key(server) else None),
            engine=self.kind,
        )

    # ------------------------------------------------------------ tracking
    def settings(self, server: ServerSpec) -> BaseModel | None:
        return getattr(server, self.section) if self.section else None

    def knob_values(self, server: ServerSpec) -> dict[str, float]:
        """`knob/<name>` metrics of the set numeric knobs (booleans as 0/1)."""
        settings = self.settings(server)
        out: dict[str, float] = {}
        for name in self.knobs:
            value = getattr(settings, name)
            if isinstance(value, (bool, int, float)):
                out[f"knob/{name}"] = float(value)
        return out

    def logged_settings(self, params: Mapping[str, str]) -> dict[str, str | None]:
        """This engine's settings back from a run's logged params (`server.<section>.<field>`; '' = unset)."""
        if not self.section:
            return {}
        prefix = f"server.{self.section}."
        return {k[len(prefix):]: v or None for k, v in params.items() if k.startswith(prefix)}

    def bits_per_weight(self, model: str, settings: Mapping[str, Any]) -> float | None:
        """Bits per weight from the model name and the engine's settings (a spec section dumped, or logged)."""
        return bits_from(model, None, None)

    def described_model(self, server: ServerSpec) -> str:
        """The name the bits per weight and parameter count are read from (`server.model`)."""
        return server.model

    def quantization(self, server: ServerSpec) -> str:
        """The `harness.quantization` tag."""
        return gguf_type(server.model) or "unknown"

    def version_tag(self, server: ServerSpec) -> str:
        """The engine version known from the spec alone (e.g. a container tag); '' when unknown."""
        return ""

    # ------------------------------------------------------------ talking to it
    def server_info(self, client: httpx.Client, endpoint: Endpoint) -> dict[str, str]:
        """Best-effort facts from the running server (version, slots) for tracking."""
        return {}

    def tokenize_body(self, model: str, text: str) -> dict[str, Any] | None:
        """The POST /tokenize body counting `text` without special tokens; None when the engine has no /tokenize."""
        return None
