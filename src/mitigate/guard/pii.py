"""PII guard: protected fields never leave in a payload (an event, a log line, a webhook).

Mark fields protected on a pydantic model with ``Annotated[str, Protected()]`` (or list
their paths), then check what is about to leave the service::

    assert_no_protected(event_payload, Subscriber)            # the model's protected paths
    assert_no_protected(event_payload, {"email", "author.phone"})

A path is dotted (``author.email``); ``[]`` stands for any list item
(``recipients[].phone``) and ``*`` for any key. A bare name (``email``) matches that key at
any depth. :class:`PiiLeakError` names the concrete path (``recipients[2].phone``) and never
the value, so the error itself can be logged. A key present with ``None`` carries nothing
and passes.

>>> import typing
>>> from pydantic import BaseModel
>>> class Author(BaseModel):
...     name: str
...     email: typing.Annotated[str, Protected()]
>>> sorted(protected_fields(Author))
['email']
>>> assert_no_protected({"title": "t", "author": {"name": "A"}}, {"author.email"})
>>> leaving = {"title": "t", "author": {"email": "a@x.io"}}
>>> assert_no_protected(leaving, {"author.email"}, where="draft.published")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mitigate.PiiLeakError: [MITIGATE.PII.LEAK] draft.published: protected field author.email is in ...

.. versionadded:: 0.1
"""

from __future__ import annotations

import fnmatch
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel

from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError, MitigateError
from mitigate.observe.observers import Observer, Observers
from mitigate.observe.service_events import PiiLeakBlocked

__all__ = [
    "REDACTED",
    "PiiLeakError",
    "Protected",
    "assert_no_protected",
    "find_protected",
    "protected_fields",
    "redact",
]

REDACTED = "[redacted]"

Fields = Iterable[str] | type[BaseModel]


@dataclass(frozen=True, slots=True)
class Protected:
    """Marks a pydantic field as personal data: ``Annotated[str, Protected()]``."""

    reason: str = ""


class PiiLeakError(MitigateError):
    """A protected field was about to leave the service. ``paths`` lists every one found;
    the values are never in the error."""

    code: ClassVar[str] = "MITIGATE.PII.LEAK"
    default_hint: ClassVar[str] = "drop or redact it before it leaves the service"

    def __init__(self, target: str | None, paths: list[str]) -> None:
        self.paths = paths
        self.path = paths[0]
        more = f" (and {len(paths) - 1} more: {', '.join(paths[1:4])})" if len(paths) > 1 else ""
        super().__init__(target, f"protected field {self.path} is in the payload{more}")


def protected_fields(model: type[BaseModel]) -> frozenset[str]:
    """The dotted paths of every field marked :class:`Protected` in ``model``, following
    nested models, lists, optionals and dicts of models (``[]`` for list items, ``*`` for
    dict values)."""
    return frozenset(_walk_model(model, "", set()))


def _walk_model(model: type[BaseModel], prefix: str, seen: set[type[BaseModel]]) -> Iterator[str]:
    if model in seen:
        return  # a recursive model: its paths are already listed one level up
    if not model.__pydantic_complete__:
        # Unresolved annotations would hide their markers: an empty answer would leak.
        try:
            model.model_rebuild(raise_errors=True)
        except Exception as exc:
            raise ConfigError(
                model.__name__,
                f"cannot read the model's protected fields: {exc}",
                hint="define every type the model names before checking payloads against it",
                code="MITIGATE.CONFIG.PII",
            ) from exc
    seen = seen | {model}
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}{key}"
        if any(m is Protected or isinstance(m, Protected) for m in info.metadata):
            yield path
            continue
        yield from _walk_type(info.annotation, path, seen)


def _walk_type(annotation: Any, path: str, seen: set[type[BaseModel]]) -> Iterator[str]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        if any(m is Protected or isinstance(m, Protected) for m in args[1:]):
            yield path
            return
        yield from _walk_type(args[0], path, seen)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _walk_model(annotation, f"{path}.", seen)
    elif origin in (list, tuple, set, frozenset) or (
        origin is not None and origin.__name__ in ("Sequence", "Iterable")
    ):
        for arg in args:
            if arg is not Ellipsis:
                yield from _walk_type(arg, f"{path}[]", seen)
    elif origin in (dict, Mapping) and len(args) == 2:
        yield from _walk_type(args[1], f"{path}.*", seen)
    else:  # Union / Optional and other generics: look inside each argument
        for arg in args:
            yield from _walk_type(arg, path, seen)


def find_protected(payload: Any, fields: Fields) -> list[str]:
    """The concrete paths (``recipients[2].phone``) of protected fields present in
    ``payload`` with a value (not ``None``)."""
    patterns = _patterns(fields)
    found: list[str] = []
    for concrete, generic, key, value in _leaves(_plain(payload), "", ""):
        if value is None:
            continue
        if any(_matches(p, generic, key) for p in patterns):
            found.append(concrete)
    return found


def assert_no_protected(
    payload: Any,
    fields: Fields,
    *,
    where: str | None = None,
    observers: Iterable[Observer] = (),
    clock: Clock | None = None,
) -> None:
    """Raise :class:`PiiLeakError` (and emit ``PiiLeakBlocked``) if ``payload`` carries a
    protected field. ``fields`` is a set of paths or a pydantic model whose protected
    fields apply; ``where`` names the exit (``comms.webhook``) in the error and event."""
    found = find_protected(payload, fields)
    if not found:
        return
    fan = Observers(observers)
    if fan:
        at = (clock or default_clock()).now()
        for path in found:
            fan.emit(PiiLeakBlocked(target=where or "payload", at=at, path=path))
    raise PiiLeakError(where, found)


def redact(payload: Any, fields: Fields, *, replacement: Any = REDACTED) -> Any:
    """A copy of ``payload`` with every protected value replaced (for logs and traces).

    >>> redact({"to": [{"phone": "+3312"}, {"phone": None}]}, {"to[].phone"})
    {'to': [{'phone': '[redacted]'}, {'phone': None}]}
    """
    patterns = _patterns(fields)

    def copy(value: Any, generic: str, key: str) -> Any:
        if value is not None and key and any(_matches(p, generic, key) for p in patterns):
            return replacement
        if isinstance(value, Mapping):
            return {
                k: copy(v, f"{generic}.{k}" if generic else str(k), str(k))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [copy(v, f"{generic}[]", key) for v in value]
        return value

    return copy(_plain(payload), "", "")


def _patterns(fields: Fields) -> tuple[str, ...]:
    if isinstance(fields, type) and issubclass(fields, BaseModel):
        return tuple(protected_fields(fields))
    if isinstance(fields, str):
        return (fields,)  # a single path, not its characters
    return tuple(fields)


def _plain(payload: Any) -> Any:
    if isinstance(payload, BaseModel):
        return payload.model_dump(mode="python", by_alias=True)
    return payload


def _leaves(
    value: Any, concrete: str, generic: str, key: str = ""
) -> Iterator[tuple[str, str, str, Any]]:
    """Every (concrete path, generic path, last key, value) under ``value``, depth first."""
    if concrete:
        yield concrete, generic, key, value
    if isinstance(value, Mapping):
        for k, v in value.items():
            name = str(k)
            yield from _leaves(
                v,
                f"{concrete}.{name}" if concrete else name,
                f"{generic}.{name}" if generic else name,
                name,
            )
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{concrete}[{i}]", f"{generic}[]", key)


def _matches(pattern: str, generic: str, key: str) -> bool:
    if "." not in pattern and "[" not in pattern and "*" not in pattern:
        return key == pattern and not generic.endswith("[]")  # bare name: that key, any depth
    if "*" in pattern:
        return fnmatch.fnmatchcase(generic, pattern.replace("[]", "[[]]"))
    return generic == pattern
