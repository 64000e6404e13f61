"""Errors of the guards: tenant resolution, HTML, archives, IP blocks, row-level security.

>>> err = TenantError("tenant.resolve", "no tenant in x-tenant-id, host or API key",
...                   status=400, code=TENANT_MISSING)
>>> err.status, err.code
(400, 'MITIGATE.TENANT.MISSING')

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from mitigate.errors import MitigateError, RejectedError

if TYPE_CHECKING:
    from mitigate.guard.archive import InspectionReport

__all__ = [
    "ArchiveRejectedError",
    "HtmlRejectedError",
    "ImporterBlockedError",
    "IpBlockedError",
    "RlsError",
    "TenantError",
]

# Refined codes a TenantError carries, with their HTTP status.
TENANT_MISSING = "MITIGATE.TENANT.MISSING"  # 400
TENANT_MALFORMED = "MITIGATE.TENANT.MALFORMED"  # 400
TENANT_CONFLICT = "MITIGATE.TENANT.CONFLICT"  # 400
TENANT_DUPLICATE = "MITIGATE.TENANT.DUPLICATE_HEADER"  # 400
TENANT_UNKNOWN = "MITIGATE.TENANT.UNKNOWN"  # 404
TENANT_REGISTRY_DOWN = "MITIGATE.TENANT.REGISTRY_UNAVAILABLE"  # 503

# Refined codes an HtmlRejectedError carries when markup is over a cap (never sanitised).
HTML_TOO_LARGE = "MITIGATE.HTML.TOO_LARGE"
HTML_TOO_DEEP = "MITIGATE.HTML.TOO_DEEP"

# Refined codes an RlsError carries.
RLS_SUPERUSER = "MITIGATE.RLS.SUPERUSER"
RLS_BYPASS = "MITIGATE.RLS.BYPASSRLS"
RLS_OWNER = "MITIGATE.RLS.OWNER"
RLS_NOT_ENABLED = "MITIGATE.RLS.NOT_ENABLED"
RLS_NOT_FORCED = "MITIGATE.RLS.NOT_FORCED"
RLS_NO_POLICY = "MITIGATE.RLS.NO_POLICY"
RLS_TENANT_LEAKED = "MITIGATE.RLS.TENANT_LEAKED"
RLS_IN_TRANSACTION = "MITIGATE.RLS.IN_TRANSACTION"
RLS_PERMISSIVE = "MITIGATE.RLS.PERMISSIVE_POLICY"


class TenantError(MitigateError):
    """The request's tenant could not be resolved; the request is refused (fail closed).

    ``status`` is the HTTP answer: 400 (missing, malformed, conflicting), 404 (unknown
    tenant, host or API key), 503 (the registry is down; never let through).
    """

    code: ClassVar[str] = "MITIGATE.TENANT.UNRESOLVED"

    def __init__(
        self,
        target: str | None,
        message: str,
        *,
        status: int,
        code: str | None = None,
        hint: str | None = None,
        source: str = "",
    ) -> None:
        self.status = status
        self.source = source  # header, host or api_key: which input was refused
        super().__init__(target, message, code=code, hint=hint)


class HtmlRejectedError(MitigateError):
    """Markup would be changed by the sanitiser; ``offending`` lists what it would drop."""

    code: ClassVar[str] = "MITIGATE.HTML.UNSAFE"
    default_hint: ClassVar[str] = "remove the listed parts; only the allowed tags are kept"

    def __init__(
        self,
        target: str | None,
        offending: Sequence[str],
        *,
        code: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.offending = tuple(offending)
        shown = ", ".join(self.offending[:5])
        more = f" (+{len(self.offending) - 5} more)" if len(self.offending) > 5 else ""
        super().__init__(target, f"not allowed: {shown}{more}", code=code, hint=hint)


class ArchiveRejectedError(MitigateError):
    """An uploaded archive failed inspection and was quarantined; ``report`` says why."""

    code: ClassVar[str] = "MITIGATE.ARCHIVE.REJECTED"
    default_hint: ClassVar[str] = "the archive is kept in quarantine for security review"

    def __init__(
        self,
        target: str | None,
        message: str,
        *,
        report: InspectionReport | None = None,
        quarantine_id: str | None = None,
        code: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.report = report
        self.quarantine_id = quarantine_id
        super().__init__(target, message, code=code, hint=hint)


class ImporterBlockedError(RejectedError):
    """The tenant's importer is blocked pending security review."""

    code: ClassVar[str] = "MITIGATE.ARCHIVE.BLOCKED"
    default_hint: ClassVar[str] = "blocked pending security review; an operator must clear it"


class IpBlockedError(RejectedError):
    """The client address is blocked after too many failures; ``retry_after`` says how long."""

    code: ClassVar[str] = "MITIGATE.RATELIMIT.IP_BLOCKED"
    default_hint: ClassVar[str] = "too many failed requests from this address; try again later"


class RlsError(MitigateError):
    """Row-level security is not safe: wrong role, RLS not forced, or a leaked tenant."""

    code: ClassVar[str] = "MITIGATE.RLS.UNSAFE"
