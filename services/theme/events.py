"""Events the theme service emits itself: the catalog's detection rules count them by
name, as they count a breaker opening."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import mitigate

__all__ = [
    "BundleOverBudget",
    "BundleUploadFailed",
    "DatabaseUnavailable",
    "LayoutPresetInactive",
    "LocaleInUse",
    "PreconditionFailed",
    "PublishConflict",
    "PublishRejected",
]


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


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishConflict(mitigate.Event):
    """Another publish flipped the theme's active publication first; this one rolled back."""

    name: ClassVar[str] = "theme.publish_conflict"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    tenant: str = ""
    theme: str = ""
    revision: int = 0
    reaped: str = ""  # the loser's object, deleted by the compensation


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleUploadFailed(mitigate.Event):
    """The bundle could not be uploaded (timeout or error); the publish aborted unwritten."""

    name: ClassVar[str] = "theme.bundle_upload_failed"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    tenant: str = ""
    theme: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleOverBudget(mitigate.Event):
    """A published bundle is over the soft size budget (the publish still proceeds)."""

    name: ClassVar[str] = "theme.bundle_over_budget"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    tenant: str = ""
    theme: str = ""
    size: int = 0
    budget: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LayoutPresetInactive(mitigate.Event):
    """A publish selected a layout preset the front-end platform has deactivated."""

    name: ClassVar[str] = "theme.layout_preset_inactive"
    tenant: str = ""
    surfaces: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseUnavailable(mitigate.Event):
    """A database call was cut (timeout) or refused (breaker open): answered 503."""

    name: ClassVar[str] = "theme.db_unavailable"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    reason: str = ""
