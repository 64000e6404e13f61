"""Guards: fail-closed tenancy with PostgreSQL row-level security, allow-list HTML,
streaming archive inspection with quarantine, IP blocking after repeated failures, and the
PII guard. Everything a service uses is re-exported here (``from mitigate.guard import ...``);
Redis and PostgreSQL pieces import their client only when used.

.. versionadded:: 0.1
"""

from __future__ import annotations

from mitigate.guard.archive import (
    ArchiveLimits,
    EntrySummary,
    Finding,
    InspectionReport,
    Reason,
    aspool_upload,
    inspect_archive,
    spool_upload,
)
from mitigate.guard.blocklist import AsyncBlocker, IpBlocker
from mitigate.guard.errors import (
    ArchiveRejectedError,
    HtmlRejectedError,
    ImporterBlockedError,
    IpBlockedError,
    RlsError,
    TenantError,
)
from mitigate.guard.html import (
    DEFAULT_HTML_POLICY,
    HtmlCheck,
    HtmlPolicy,
    sanitize,
    sanitize_for_write,
)
from mitigate.guard.pii import (
    REDACTED,
    PiiLeakError,
    Protected,
    assert_no_protected,
    find_protected,
    protected_fields,
    redact,
)
from mitigate.guard.quarantine import (
    GATE_MIGRATIONS,
    ArchiveGuard,
    ImporterGate,
    Quarantine,
    QuarantineRecord,
)
from mitigate.guard.redis_limits import RedisIpBlocker, RedisRateLimiter
from mitigate.guard.rls import (
    TENANT_SETTING,
    RlsProblem,
    acheck_app_role,
    acheck_no_tenant,
    app_role_sql,
    areset_tenant,
    atenant_transaction,
    check_app_role,
    check_no_tenant,
    quote_ident,
    reset_tenant,
    rls_policy_sql,
    tenant_predicate,
    tenant_transaction,
)
from mitigate.guard.rls_kit import (
    IsolationCheck,
    IsolationReport,
    TableSpec,
    prove_isolation,
)
from mitigate.guard.script_scan import (
    SCRIPT_SUFFIXES,
    ScriptScan,
    is_script,
)
from mitigate.guard.tenancy import (
    StaticTenantRegistry,
    Tenant,
    TenantRegistry,
    TenantResolver,
    api_key_hash,
)
from mitigate.guard.tenant_registry_pg import PostgresTenantRegistry, registry_table_sql

__all__ = [
    "DEFAULT_HTML_POLICY",
    "GATE_MIGRATIONS",
    "REDACTED",
    "SCRIPT_SUFFIXES",
    "TENANT_SETTING",
    "ArchiveGuard",
    "ArchiveLimits",
    "ArchiveRejectedError",
    "AsyncBlocker",
    "EntrySummary",
    "Finding",
    "HtmlCheck",
    "HtmlPolicy",
    "HtmlRejectedError",
    "ImporterBlockedError",
    "ImporterGate",
    "InspectionReport",
    "IpBlockedError",
    "IpBlocker",
    "IsolationCheck",
    "IsolationReport",
    "PiiLeakError",
    "PostgresTenantRegistry",
    "Protected",
    "Quarantine",
    "QuarantineRecord",
    "Reason",
    "RedisIpBlocker",
    "RedisRateLimiter",
    "RlsError",
    "RlsProblem",
    "ScriptScan",
    "StaticTenantRegistry",
    "TableSpec",
    "Tenant",
    "TenantError",
    "TenantRegistry",
    "TenantResolver",
    "acheck_app_role",
    "acheck_no_tenant",
    "api_key_hash",
    "app_role_sql",
    "areset_tenant",
    "aspool_upload",
    "assert_no_protected",
    "atenant_transaction",
    "check_app_role",
    "check_no_tenant",
    "find_protected",
    "inspect_archive",
    "is_script",
    "protected_fields",
    "prove_isolation",
    "quote_ident",
    "redact",
    "registry_table_sql",
    "reset_tenant",
    "rls_policy_sql",
    "sanitize",
    "sanitize_for_write",
    "spool_upload",
    "tenant_predicate",
    "tenant_transaction",
]
