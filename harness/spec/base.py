"""The base of every spec model: unknown keys are errors, assignment is validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SpecDeprecation(FutureWarning):
    """A spec key that still works under an old name; shown on screen (FutureWarning is shown by default)."""


class Strict(BaseModel):
    """Base: unknown keys are errors, assignment is validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
