"""Events the content service emits itself, beside mitigate's: the catalog's detection
rules count them by name (``event: builder.oom``), as they count a breaker opening."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import mitigate

__all__ = ["BuilderOom"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BuilderOom(mitigate.Event):
    """The builder process was killed by its memory limit (content.rule.builder-oom)."""

    name: ClassVar[str] = "builder.oom"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    package: str = ""
    limit_mb: int = 0
