"""Events the comms service emits itself: the catalog's detection rules count them by
name (``event: template.not_found``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import mitigate

__all__ = ["CategoryHalted", "TemplateNotFound"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateNotFound(mitigate.Event):
    """A dispatch named a template the running version does not ship (comms.fm.19)."""

    name: ClassVar[str] = "template.not_found"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    template: str = ""
    channel: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoryHalted(mitigate.Event):
    """A category was halted on a channel (kill switch); an incident is opened."""

    name: ClassVar[str] = "comms.category_halted"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.CRITICAL
    channel: str = ""
    category: str = ""
    reason: str = ""
