"""Fail-closed tenant resolution: from a header, the host, or an API key.

Every source present must name a known tenant and all must agree; anything else is
refused with a clear code and status, and a :class:`~mitigate.TenantRejected` event:

====================================  ======  ==========================================
code                                  status  when
====================================  ======  ==========================================
``MITIGATE.TENANT.MISSING``           400     no header, no API key, host maps to none
``MITIGATE.TENANT.MALFORMED``         400     the tenant id is not a valid id
``MITIGATE.TENANT.CONFLICT``          400     two sources name different tenants
``MITIGATE.TENANT.DUPLICATE_HEADER``  400     the tenant header, API key or host repeated
``MITIGATE.TENANT.UNKNOWN``           404     unknown tenant id, host or API key
``MITIGATE.TENANT.REGISTRY_UNAVAILABLE`` 503  the registry failed: never let through
====================================  ======  ==========================================

>>> import asyncio
>>> registry = StaticTenantRegistry()
>>> registry.add(Tenant("acme"), hosts=["acme.example.com"], api_keys=["k-123"])
>>> resolver = TenantResolver(registry)
>>> asyncio.run(resolver.resolve({"x-tenant-id": "acme"})).id
'acme'
>>> asyncio.run(resolver.resolve({}, host="acme.example.com:443")).id
'acme'
>>> asyncio.run(resolver.resolve({"x-tenant-id": "globex"}))
Traceback (most recent call last):
...
mitigate.TenantError: [MITIGATE.TENANT.UNKNOWN] tenant.resolve: no tenant 'globex' \
(from header x-tenant-id); check the tenant id, host or API key

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from mitigate.clock import Clock, default_clock
from mitigate.guard import errors as codes
from mitigate.guard.errors import TenantError
from mitigate.observe.events import TenantRejected
from mitigate.observe.observers import Observer, Observers

__all__ = [
    "StaticTenantRegistry",
    "Tenant",
    "TenantRegistry",
    "TenantResolver",
    "api_key_hash",
]

DEFAULT_ID_PATTERN = r"[a-z0-9][a-z0-9_-]{0,62}"
_HINT = "check the tenant id, host or API key"


@dataclass(frozen=True, slots=True)
class Tenant:
    """A resolved tenant; ``plan`` lets callers pick per-tenant limits."""

    id: str
    name: str = ""
    plan: str = ""


class TenantRegistry(Protocol):
    """Where tenants are looked up. Raise on failure: the resolver answers 503."""

    async def by_id(self, tenant_id: str) -> Tenant | None: ...
    async def by_host(self, host: str) -> Tenant | None: ...
    async def by_api_key(self, key_hash: bytes) -> Tenant | None: ...


def api_key_hash(key: str) -> bytes:
    """API keys are stored and looked up by SHA-256, never in clear."""
    return hashlib.sha256(key.encode("utf-8")).digest()


class StaticTenantRegistry:
    """An in-memory registry (config files, tests)."""

    def __init__(self) -> None:
        self._ids: dict[str, Tenant] = {}
        self._hosts: dict[str, Tenant] = {}
        self._keys: dict[bytes, Tenant] = {}

    def add(
        self, tenant: Tenant, *, hosts: Iterable[str] = (), api_keys: Iterable[str] = ()
    ) -> None:
        self._ids[tenant.id] = tenant
        for host in hosts:
            self._hosts[host.lower()] = tenant
        for key in api_keys:
            self._keys[api_key_hash(key)] = tenant

    async def by_id(self, tenant_id: str) -> Tenant | None:
        return self._ids.get(tenant_id)

    async def by_host(self, host: str) -> Tenant | None:
        return self._hosts.get(host)

    async def by_api_key(self, key_hash: bytes) -> Tenant | None:
        return self._keys.get(key_hash)


class TenantResolver:
    """Resolves the tenant of a request, failing closed (see the module text).

    ``shared_hosts`` are hosts that serve every tenant (an API domain): they never name
    a tenant, so the header or API key must. Any other host must map to a tenant.
    """

    def __init__(
        self,
        registry: TenantRegistry,
        *,
        header: str = "x-tenant-id",
        api_key_header: str = "x-api-key",
        use_host: bool = True,
        shared_hosts: Iterable[str] = (),
        id_pattern: str = DEFAULT_ID_PATTERN,
        timeout: float | None = 2.0,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        target: str = "tenant.resolve",
    ) -> None:
        self.registry = registry
        self.timeout = timeout
        self.header = header.lower()
        self.api_key_header = api_key_header.lower()
        self.use_host = use_host
        self.shared_hosts = frozenset(h.lower() for h in shared_hosts)
        self._id = re.compile(id_pattern)
        self.clock = clock or default_clock()
        self.observers = observers if isinstance(observers, Observers) else Observers(observers)
        self.target = target

    async def resolve(
        self, headers: Mapping[str, str], *, host: str | None = None, client: str = ""
    ) -> Tenant:
        """The request's tenant, or :class:`TenantError` (after a TenantRejected event)."""
        try:
            return await self._resolve(headers, host)
        except TenantError as error:
            if self.observers:
                self.observers.emit(
                    TenantRejected(
                        target=self.target,
                        at=self.clock.now(),
                        error=error,
                        reason=error.code,
                        source=error.source,
                        status=error.status,
                        client=client,
                    )
                )
            raise

    async def _resolve(self, headers: Mapping[str, str], host: str | None) -> Tenant:
        # Starlette's Headers.items() lists every field; an app reads the first of a
        # repeated one, a dict the last: refuse the ambiguity instead of picking one.
        counts = Counter(k.lower() for k, _ in headers.items())
        watched = {self.header: "header", self.api_key_header: "api_key"}
        if self.use_host:
            watched["host"] = "host"
        for field_name, source in watched.items():
            if counts[field_name] > 1:
                raise self._error(
                    f"header {field_name} appears {counts[field_name]} times; send it once",
                    400,
                    codes.TENANT_DUPLICATE,
                    source,
                )
        lowered = {k.lower(): v for k, v in headers.items()}
        found: list[tuple[str, Tenant]] = []
        tenant_id = lowered.get(self.header)
        if tenant_id is not None:
            if not self._id.fullmatch(tenant_id):
                raise self._error(
                    f"{_show(tenant_id)} is not a valid tenant id",
                    400,
                    codes.TENANT_MALFORMED,
                    "header",
                )
            tenant = await self._lookup(lambda: self.registry.by_id(tenant_id), "header")
            if tenant is None:
                raise self._error(
                    f"no tenant {_show(tenant_id)} (from header {self.header})",
                    404,
                    codes.TENANT_UNKNOWN,
                    "header",
                )
            found.append(("header", tenant))
        api_key = lowered.get(self.api_key_header)
        if api_key is not None:
            tenant = await self._lookup(
                lambda: self.registry.by_api_key(api_key_hash(api_key)), "api_key"
            )
            if tenant is None:
                raise self._error("unknown API key", 404, codes.TENANT_UNKNOWN, "api_key")
            found.append(("api_key", tenant))
        name = _host_name(host) if self.use_host and host else None
        if name is not None and name not in self.shared_hosts:
            tenant = await self._lookup(lambda: self.registry.by_host(name), "host")
            if tenant is None:
                raise self._error(
                    f"no tenant for host {_show(name)}", 404, codes.TENANT_UNKNOWN, "host"
                )
            found.append(("host", tenant))
        if not found:
            raise self._error(
                f"no tenant in header {self.header}, API key or host", 400, codes.TENANT_MISSING, ""
            )
        first_source, first = found[0]
        for source, tenant in found[1:]:
            if tenant.id != first.id:
                raise self._error(
                    f"{first_source} names {first.id!r} but {source} names {tenant.id!r}",
                    400,
                    codes.TENANT_CONFLICT,
                    source,
                )
        return first

    async def _lookup(
        self, lookup: Callable[[], Awaitable[Tenant | None]], source: str
    ) -> Tenant | None:
        try:
            result = await self._bounded(lookup)
        except Exception as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else f"failed: {type(exc).__name__}"
            raise self._error(
                f"tenant registry {what}",
                503,
                codes.TENANT_REGISTRY_DOWN,
                source,
                hint="retry later; requests are refused while the registry is down",
            ) from exc
        if result is not None and not isinstance(result, Tenant):
            raise self._error(
                "tenant registry returned an unexpected value",
                503,
                codes.TENANT_REGISTRY_DOWN,
                source,
            )
        return result

    async def _bounded(self, lookup: Callable[[], Awaitable[Tenant | None]]) -> Tenant | None:
        # The timeout runs on the resolver's clock, so it is testable in virtual time.
        pending = asyncio.ensure_future(lookup())
        if self.timeout is None:
            return await pending
        timer = asyncio.ensure_future(self.clock.asleep(self.timeout))
        try:
            await asyncio.wait({pending, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if not pending.done():
            pending.cancel()
            raise TimeoutError(f"no answer within {self.timeout}s")
        return pending.result()

    def _error(
        self, message: str, status: int, code: str, source: str, *, hint: str = _HINT
    ) -> TenantError:
        return TenantError(self.target, message, status=status, code=code, hint=hint, source=source)


def _host_name(host: str) -> str | None:
    name = host.strip().lower()
    if name.startswith("["):  # IPv6 literal
        return name.split("]")[0] + "]"
    name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    return name.rstrip(".") or None


def _show(value: str) -> str:
    return repr(value if len(value) <= 64 else value[:61] + "...")
