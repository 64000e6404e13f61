"""Which backends a verification run uses: ``embedded`` (SQLite, the in-process bus,
local files) or production servers joined by ``+``.

>>> parse_backend("redis+postgres")
'postgres+redis'
>>> parse_backend("embedded")
'embedded'
>>> parse_backend("postgres+mongo")
Traceback (most recent call last):
...
mitigate.ConfigError: [MITIGATE.CONFIG.BACKEND] postgres+mongo: unknown backend 'mongo'; ...

.. versionadded:: 0.2
"""

from __future__ import annotations

from mitigate.errors import ConfigError

__all__ = ["BACKEND_PARTS", "EMBEDDED", "parse_backend"]

EMBEDDED = "embedded"
BACKEND_PARTS = ("postgres", "nats", "redis", "s3")
"""The production backends, in the order a normalised value lists them."""

_HINT = f"write {EMBEDDED} or production backends joined by '+': " + ", ".join(BACKEND_PARTS)


def parse_backend(text: str) -> str:
    """The normalised backend value (parts in :data:`BACKEND_PARTS` order); raises
    :class:`~mitigate.ConfigError` (``MITIGATE.CONFIG.BACKEND``) on anything else."""
    value = text.strip().lower()
    if value == EMBEDDED:
        return EMBEDDED
    parts = [p.strip() for p in value.split("+")]
    for part in parts:
        if part == EMBEDDED:
            raise _bad(text, f"{EMBEDDED} cannot be combined with other backends")
        if part not in BACKEND_PARTS:
            raise _bad(text, f"unknown backend {part!r}" if part else "an empty backend name")
    if len(set(parts)) != len(parts):
        raise _bad(text, "a backend is named twice")
    return "+".join(p for p in BACKEND_PARTS if p in parts)


def _bad(text: str, message: str) -> ConfigError:
    return ConfigError(text or "''", message, hint=_HINT, code="MITIGATE.CONFIG.BACKEND")
