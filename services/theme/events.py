"""Events the theme service emits itself: the catalog's detection rules count them by
name, as they count a breaker opening."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import mitigate

__all__ = ["LocaleInUse", "PreconditionFailed", "PublishRejected"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PreconditionFailed(mitigate.Event):
    """A save named a revision that is no longer current (the editor must reload)."""

    name: ClassVar[str] = "theme.precondition_failed"
    tenant: str = ""
    expected: int = 0
    current: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishRejected(mitigate.Event):
    """A publish was refused by validation before any transaction opened."""

    name: ClassVar[str] = "theme.publish_rejected"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    tenant: str = ""
    violations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LocaleInUse(mitigate.Event):
    """A locale removal was refused because copy in that locale is still referenced."""

    name: ClassVar[str] = "theme.locale_in_use"
    tenant: str = ""
    locale: str = ""
    references: tuple[str, ...] = ()
