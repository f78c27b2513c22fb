"""The base of every spec model: unknown keys are errors, assignment is validated, numbers are finite."""

from __future__ import annotations

from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class SpecDeprecation(FutureWarning):
    """A spec key that still works under an old name; shown on screen (FutureWarning is shown by default)."""


def _only(annotation: Any, kind: type) -> bool:
    """`kind`, `kind | None` or Optional[kind]."""
    if annotation is kind:
        return True
    if get_origin(annotation) in (Union, UnionType):
        return [a for a in get_args(annotation) if a is not type(None)] == [kind]
    return False


def _int_field(annotation: Any) -> bool:
    return _only(annotation, int)


def _float_field(annotation: Any) -> bool:
    return _only(annotation, float)


class Strict(BaseModel):
    """Base: unknown keys are errors, assignment is validated, inf/NaN rejected, `true` is not a number."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name:
            ann = cls.model_fields[info.field_name].annotation
            if _int_field(ann) or ann is float or _float_field(ann):
                raise ValueError(f"expected a number, got {value!r} (a YAML boolean)")
        return value
