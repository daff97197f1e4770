"""Turn pydantic validation errors into one line naming the file, the key path and what was expected."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]


def dotted(loc: Loc) -> str:
    return ".".join(str(part) for part in loc)


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> X; leaves other annotations alone."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that owns the mapping at ``loc`` (walks fields, dict values and list items)."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
            continue
        origin = typing.get_origin(current)
        if origin in (dict, list):
            current = typing.get_args(current)[-1]
            continue
        return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _message(root: type[BaseModel], err: Any) -> str:
    kind = err["type"]
    loc: Loc = tuple(err["loc"])
    if kind == "extra_forbidden":
        owner = model_at(root, loc[:-1])
        allowed = ", ".join(owner.model_fields) if owner else "?"
        return f"unknown key (expected one of: {allowed})"
    if kind == "missing":
        return "required key is missing"
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        msg = msg.replace("Input should be", "expected")
        return f"{msg} (got {err.get('input')!r})"
    return msg.replace("Input should be", "expected")


def one_line(
    exc: ValidationError,
    root: type[BaseModel],
    where: Callable[[Loc], str],
    prefix: Sequence[str | int] = (),
) -> str:
    """The first error as ``<file>: <key.path>: <what was expected>`` (and how many more)."""
    # A typo'd key also makes the real key "missing"; the unknown key is the one that explains both.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc: Loc = (*prefix, *first["loc"])
    message = _message(root, first)
    # A model-level validator reports at its parent; a "rev: ..." message names the child key itself.
    if ":" in message and first["type"] == "value_error":
        key, _, rest = message.partition(":")
        if key.isidentifier():
            loc, message = (*loc, key), rest.strip()
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where(loc)}: {dotted(loc) or '<root>'}: {message}{more}"
