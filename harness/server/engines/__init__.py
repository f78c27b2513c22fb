"""The engine registry: everything the harness knows about one serving engine lives in its module here.

Every module of this package (but `base`) defines `ENGINE`, an `Engine` instance, and is registered
on import; a new engine is one new module (plus its section and `kind` value in spec/model.py).
Elsewhere the harness asks `engine(kind)` and never branches on the kind itself.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from harness.errors import SpecError
from harness.server.engines.base import Cause, Engine, Launch, MetricNames  # noqa: F401  (the package's interface)
from harness.server.model_facts import bits_from

ENGINES: dict[str, Engine] = {}
"""kind -> engine, in registration order (module name order for this package's own)."""


def register(eng: Engine) -> Engine:
    """Add an engine under its `kind`; a second engine for one kind is an error."""
    if ENGINES.get(eng.kind, eng) is not eng:
        raise ValueError(f"engine kind {eng.kind!r} is registered twice ({type(ENGINES[eng.kind]).__name__}, {type(eng).__name__})")
    ENGINES[eng.kind] = eng
    return eng


def engine(kind: str) -> Engine:
    """The engine of `server.kind`; SpecError naming the known kinds otherwise."""
    found = ENGINES.get(kind)
    if found is None:
        raise SpecError([f"server.kind: no engine {kind!r}; known: {', '.join(ENGINES)}"])
    return found


def find_engine(kind: str | None) -> Engine | None:
    """The engine of a kind read back from somewhere (an endpoint, a run's tag); None when unknown."""
    return ENGINES.get(kind or "")


def engines_behind(kind: str | None) -> list[Engine]:
    """The launching engines that may serve an endpoint of `kind`, its own first: an attached one could be any."""
    own = find_engine(kind)
    first = [own] if own is not None and own.launches else []
    return first + [e for e in ENGINES.values() if e.launches and e is not own]


def likely_causes(kind: str | None) -> list[Cause]:
    """Engine-specific causes for a server of `kind` (every engine's when the kind is unknown or attached)."""
    own = find_engine(kind)
    chosen = [own] if own is not None and own.launches else list(ENGINES.values())
    return [c for e in chosen for c in e.causes]


def logged_bits_per_weight(kind: str | None, model: str, params: Mapping[str, str]) -> float | None:
    """Bits per weight of a logged run: from its model name and engine params, else its engine's default."""
    eng = find_engine(kind)
    if eng is None:
        return bits_from(model, None, None)
    bits = eng.bits_per_weight(model, eng.logged_settings(params))
    return eng.default_bits_per_weight if bits is None else bits


def slot_knobs(kind: str | None) -> list[str]:
    """The `knob/<name>` metrics holding a run's slot count (max concurrent sequences); every engine's when unknown."""
    own = find_engine(kind)
    chosen = [own] if own is not None and own.slots_knob else list(ENGINES.values())
    return [f"knob/{e.slots_knob}" for e in chosen if e.slots_knob]


def api_key_envs() -> tuple[str, ...]:
    """The variables engines read API keys from (secrets to scrub from what is logged)."""
    return tuple(e.key_env for e in ENGINES.values() if e.key_env)


def distributions() -> tuple[str, ...]:
    """The engines' Python distributions, whose versions are logged."""
    return tuple(d for e in ENGINES.values() for d in e.distributions)


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name != "base" and not info.name.startswith("_"):
            register(importlib.import_module(f"{__name__}.{info.name}").ENGINE)


_discover()
