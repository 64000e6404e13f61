"""The bundle reader (the BFF's side): cache, then origin, then last-known-good, with
every byte checked against the publication's SHA-256 before it is served.

Every cache call runs under the ``bundle.cache`` policy (a short timeout and a breaker):
while the cache is down the breaker opens and reads bypass it to origin; a failed cache
write is logged once and dropped, never retried (theme.fm.2.7).

The active publication (object key and digest) is read from the database and kept in the
cache too, for ``POINTER_TTL``: while the primary database is down, reads use that copy
and keep serving the theme until it expires (theme.fm.2.1).

A cached copy that fails its digest is purged and the origin is read; an origin copy that
fails too is never served: the last-known-good bundle of the theme (the last bytes that
passed, kept 24 h) is, and ``theme.bundle.integrity.violation`` is emitted. The cache is
Redis when the service has one, else a dictionary in this process.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate
from services.kit.errors import ServiceError
from services.kit.runtime import Runtime

from .audit import report

__all__ = ["CACHE", "LKG_TTL", "BundleReader", "CacheWriteDropped", "IntegrityViolation"]

log = logging.getLogger("services.theme.reader")
VERIFY = "theme.switch.digest-verify"
LKG = "theme.switch.last-known-good"
BYPASS = "theme.switch.cache-bypass"
CACHE = "bundle.cache"
LKG_TTL = 24 * 3600.0
STALE_READS = "theme.switch.stale-reads"
POINTER_TTL = 300.0  # the seed's "reads served from Memorystore until TTL": 5 min


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrityViolation(mitigate.Event):
    name: ClassVar[str] = "theme.bundle.integrity.violation"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.CRITICAL
    key: str = ""
    where: str = ""  # cache or origin


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheWriteDropped(mitigate.Event):
    """A bundle could not be written to the cache; the write is dropped, not retried."""

    name: ClassVar[str] = "theme.cache_write_dropped"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    key: str = ""
    reason: str = ""


class BundleReader:
    def __init__(self, runtime: Runtime, themes: Any) -> None:
        self.rt = runtime
        self.themes = themes
        self.local: dict[str, tuple[bytes, float]] = {}  # the cache without Redis: value, expiry
        self.pointed: dict[tuple[str, str], tuple[int, float]] = {}  # pointer last cached
        self.writes_down = False  # a failed cache write was logged; quiet until one succeeds
        self.lkg: dict[tuple[str, str], tuple[bytes, int, float]] = {}

    # The raw cache operations (Redis, or a dictionary in this process).
    async def _get(self, key: str) -> bytes | None:
        if self.rt.cache is not None:
            value = await self.rt.cache.get(f"theme:bundle:{key}")
            return bytes(value) if value is not None else None
        kept = self.local.get(key)
        return kept[0] if kept is not None and self.rt.clock.now() < kept[1] else None

    async def _put(self, key: str, data: bytes, ttl: float = 86400.0) -> None:
        if self.rt.cache is not None:
            await self.rt.cache.set(f"theme:bundle:{key}", data, ex=max(1, round(ttl)))
        else:
            self.local[key] = (data, self.rt.clock.now() + ttl)

    async def _purge(self, key: str) -> None:
        if self.rt.cache is not None:
            await self.rt.cache.delete(f"theme:bundle:{key}")
        else:
            self.local.pop(key, None)

    async def _cached(self, op: Any, key: str, *args: Any) -> Any:
        """One cache call under the cache policy. A cache that fails (or whose breaker is
        open) is a miss when bypass is on; without it the read fails."""
        try:
            value = await self.rt.policy(CACHE).acall(op, key, *args)
        except Exception as err:
            if not self.rt.switches.enabled(BYPASS):
                raise ServiceError(
                    "MELMASTOON.THEME.CACHE_UNAVAILABLE",
                    "the bundle cache is unavailable",
                    status=503,
                    retry_after=30,
                ) from err
            if op == self._put and not self.writes_down:
                # Logged once per outage and dropped: a cache write is never retried.
                self.writes_down = True
                reason = str(getattr(err, "code", "") or type(err).__name__)
                log.warning("cache writes failing (%s): dropped until the cache is back", reason)
                self.rt.emit(
                    CacheWriteDropped(target=CACHE, at=self.rt.clock.now(), key=key, reason=reason)
                )
            return None
        if op == self._put:
            self.writes_down = False
        return value

    async def cache_get(self, key: str) -> bytes | None:
        value: bytes | None = await self._cached(self._get, key)
        return value

    async def cache_put(self, key: str, data: bytes) -> None:
        await self._cached(self._put, key, data)

    async def cache_purge(self, key: str) -> None:
        await self._cached(self._purge, key)

    def _good(self, data: bytes | None, sha256: str) -> bool:
        if data is None:
            return False
        if not self.rt.switches.enabled(VERIFY):
            return True
        return hashlib.sha256(data).hexdigest() == sha256

    def _violation(self, key: str, where: str) -> None:
        report(
            self.rt,
            IntegrityViolation(target="bundle.read", at=self.rt.clock.now(), key=key, where=where),
        )
        log.error("bundle %s failed its SHA-256 check (%s)", key, where)

    async def _publication(self, tenant: str, theme_id: str) -> tuple[dict[str, Any], bool]:
        """The active publication from the database, or (primary down) the cached copy
        while within its TTL; True when it is the cached one."""
        pointer = f"pointer/{tenant}/{theme_id}"
        try:
            active: dict[str, Any] = await self.themes.guarded(self.themes.active, tenant, theme_id)
        except ServiceError as err:
            if err.code != "MELMASTOON.PLATFORM.DB_UNAVAILABLE" or not self.rt.switches.enabled(
                STALE_READS
            ):
                raise
            cached = await self.cache_get(pointer)
            if cached is None:
                raise
            return json.loads(cached), True
        now = self.rt.clock.now()
        last = self.pointed.get((tenant, theme_id))
        if last is None or last[0] != active["revision"] or now - last[1] > POINTER_TTL / 2:
            await self._cached(self._put, pointer, json.dumps(active).encode(), POINTER_TTL)
            self.pointed[(tenant, theme_id)] = (active["revision"], now)
        return active, False

    async def read(self, tenant: str, theme_id: str) -> tuple[bytes, dict[str, Any]]:
        active, stale = await self._publication(tenant, theme_id)
        key, sha256 = active["objectKey"], active["sha256"]
        data = await self.cache_get(key)
        source = "cache"
        if data is not None and not self._good(data, sha256):
            self._violation(key, "cache")
            await self.cache_purge(key)
            data = None
        if data is None:
            source = "origin"
            data = await self.rt.objects.get(key)
            if self._good(data, sha256):
                await self.cache_put(key, data)
            else:
                self._violation(key, "origin")
                data = None
        if data is not None:
            self.lkg[(tenant, theme_id)] = (data, active["revision"], self.rt.clock.now())
            return data, {"source": source, "revision": active["revision"], "stale": stale}
        kept = self.lkg.get((tenant, theme_id)) if self.rt.switches.enabled(LKG) else None
        if kept is not None and self.rt.clock.now() - kept[2] < LKG_TTL:
            return kept[0], {"source": "last-known-good", "revision": kept[1]}
        raise ServiceError(
            "MELMASTOON.THEME.BUNDLE_UNAVAILABLE",
            "the theme's bundle failed its integrity check and no good copy is kept",
            status=503,
            retry_after=60,
        )
