"""The theme use cases: save a version (optimistic concurrency), remove a locale (refused
while referenced), publish (validated before any transaction; bundle uploaded before the
flip), render (sanitised again on the way out).

Each mitigation asks its switch first, so ``mitigate verify --mutate`` can turn it off.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from prometheus_client import Counter

import mitigate
from services.kit.calls import call
from services.kit.errors import ServiceError
from services.kit.runtime import Runtime

from .audit import report
from .domain.bundle import build_bundle
from .domain.document import ThemeDocument
from .domain.validation import locale_references, publish_violations
from .events import (
    BundleOverBudget,
    BundleUploadFailed,
    DatabaseUnavailable,
    LayoutPresetInactive,
    LocaleInUse,
    PreconditionFailed,
    PublishConflict,
    PublishRejected,
)
from .invalidation import enqueue_purge
from .outbox_events import ThemeEvents
from .tenancy import TenantScope

__all__ = ["BUDGET_BYTES", "PRECONDITION_FAILED", "Themes", "parse_etag"]

log = logging.getLogger("services.theme.themes")

PRECONDITION_FAILED = "MELMASTOON.PLATFORM.PRECONDITION_FAILED"
SW_OCC = "theme.switch.occ"
SW_PUBLISH_GATE = "theme.switch.publish-gate"
SW_LOCALE_GUARD = "theme.switch.locale-guard"
SW_SANITISE_WRITE = "theme.switch.sanitise-write"
SW_SANITISE_RENDER = "theme.switch.sanitise-render"
SW_FLIP_GUARD = "theme.switch.flip-guard"
SW_COMPENSATION = "theme.switch.publish-compensation"
UPLOAD = "bundle.upload"
SW_BUDGET = "theme.switch.budget-meter"
SW_PRESET_GATE = "theme.switch.preset-gate"
DB = "theme.db"
DB_UNAVAILABLE = "MELMASTOON.PLATFORM.DB_UNAVAILABLE"
BUDGET_BYTES = 40 * 1024  # the seed's 40 KB soft budget, read as KiB (catalog choice)


def parse_etag(value: str | None) -> int | None:
    """The revision an ``If-Match`` names (``"3"`` or ``W/"3"``); None when absent."""
    if value is None or not value.strip():
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ServiceError(PRECONDITION_FAILED, f"If-Match {value!r} names no revision", status=412)
    return int(text)


def etag(revision: int) -> str:
    return f'"{revision}"'


class Themes:
    def __init__(self, runtime: Runtime, scope: TenantScope | None = None) -> None:
        self.rt = runtime
        self.html = mitigate.HtmlPolicy()  # the platform's allow-list
        self.events = ThemeEvents(runtime)
        self.assets: Any = None  # broken-asset placeholders on the render path (assets.py)
        self.on_purge: Any = None  # wakes the purge retrier once a flip's purge is committed
        self.scope = scope or TenantScope(runtime)  # tenant isolation (tenancy.py)
        self.breaches = Counter(
            "theme_bundle_budget_breaches_total",
            "published bundles over the 40 KB soft budget",
            ["tenant"],
            registry=runtime.registry,
        )

    def _on(self, switch: str) -> bool:
        return bool(self.rt.switches.enabled(switch))

    def _emit(self, event_type: type[mitigate.Event], **fields: Any) -> None:
        report(self.rt, event_type(target="theme", at=self.rt.clock.now(), **fields))

    async def guarded(self, fn: Any, *args: Any) -> Any:
        """Run a database use case under the ``theme.db`` policy: a primary that does not
        answer is cut short and, once the breaker opens, refused at once; the caller gets
        503 with Retry-After (fail closed: nothing half-written). The use case's own
        refusals (412, 404, a publish conflict) are answers, not outages: the breaker does
        not count them."""
        try:
            return await call(
                self.rt.policy(DB), fn, *args, permanent=(ServiceError, mitigate.StoreDataError)
            )
        except (
            mitigate.AttemptTimeoutError,
            mitigate.BreakerOpenError,
            mitigate.StoreUnavailableError,
        ) as err:
            reason = str(getattr(err, "code", "") or type(err).__name__)
            self._emit(DatabaseUnavailable, reason=reason)
            log.error("theme database unavailable (%s)", reason)
            raise ServiceError(
                DB_UNAVAILABLE,
                "the theme database is unavailable; retry shortly",
                status=503,
                retry_after=10,
            ) from err

    # -- writes ---------------------------------------------------------------------------
    def _clean_blocks(self, doc: ThemeDocument) -> None:
        """The write path: markup the allow-list would change is refused, with its field."""
        if not self._on(SW_SANITISE_WRITE):
            return
        for i, block in enumerate(doc.blocks):
            path = f"blocks[{i}].html"
            try:
                self.html.sanitize_for_write(
                    block.html, field=path, observers=self.rt.observers, clock=self.rt.clock
                )
            except mitigate.MitigateError as err:
                raise ServiceError(
                    "MELMASTOON.THEME.UNSAFE_HTML",
                    f"{path}: markup outside the allow-list",
                    status=422,
                    details={"violations": [{"path": path, "message": str(err)}]},
                ) from err

    async def save(
        self, tenant: str, theme_id: str, doc: ThemeDocument, if_match: int | None
    ) -> dict[str, Any]:
        """Save the working version. An existing theme is only saved on the revision the
        editor read (``If-Match``); a stale one gets 412 and nothing is merged."""
        self._clean_blocks(doc)
        raw = json.dumps(doc.dumped(), sort_keys=True)
        revision = await self.guarded(self._write, tenant, theme_id, raw, if_match)
        return await self.get(tenant, theme_id) | {"revision": revision}

    async def _write(self, tenant: str, theme_id: str, raw: str, if_match: int | None) -> int:
        """The save's transaction (under the ``theme.db`` policy)."""
        now = self.rt.clock.wall()
        occ = self._on(SW_OCC)
        async with self.rt.store.transaction() as tx:
            row = await tx.fetchone(
                "SELECT revision FROM theme_themes WHERE tenant = ? AND id = ?",
                (tenant, theme_id),
            )
            if row is None:
                if occ and if_match not in (None, 0):
                    self._stale(tenant, theme_id, if_match or 0, 0)
                await tx.execute(
                    "INSERT INTO theme_themes (tenant, id, revision, state, document, updated_at)"
                    " VALUES (?, ?, 1, 'preview_ready', ?, ?)",
                    (tenant, theme_id, raw, now),
                )
                revision = 1
            else:
                current = int(row[0])
                if occ:
                    if if_match is None:
                        raise ServiceError(
                            "MELMASTOON.PLATFORM.PRECONDITION_REQUIRED",
                            "send If-Match with the ETag you read",
                            status=428,
                        )
                    if if_match != current:
                        self._stale(tenant, theme_id, if_match, current)
                    changed = await tx.execute(
                        "UPDATE theme_themes SET revision = ?, state = 'preview_ready',"
                        " document = ?, updated_at = ?"
                        " WHERE tenant = ? AND id = ? AND revision = ?",
                        (current + 1, raw, now, tenant, theme_id, current),
                    )
                    if changed != 1:  # another save committed between our read and write
                        self._stale(tenant, theme_id, if_match, current + 1)
                else:
                    await tx.execute(
                        "UPDATE theme_themes SET revision = ?, state = 'preview_ready',"
                        " document = ?, updated_at = ? WHERE tenant = ? AND id = ?",
                        (current + 1, raw, now, tenant, theme_id),
                    )
                revision = current + 1
        return revision

    def _stale(self, tenant: str, theme_id: str, expected: int, current: int) -> None:
        self._emit(PreconditionFailed, tenant=tenant, expected=expected, current=current)
        raise ServiceError(
            PRECONDITION_FAILED,
            f"theme {theme_id}: someone else updated this (you had revision {expected});"
            " reload and apply your change again",
            status=412,
        )

    async def remove_locale(
        self, tenant: str, theme_id: str, locale: str, if_match: int | None
    ) -> dict[str, Any]:
        """Remove ``locale`` and its copy; refused with every reference while any remain."""
        found = await self._row(tenant, theme_id)
        doc = ThemeDocument.model_validate(json.loads(found["document"]))
        if locale not in doc.locales:
            raise ServiceError(
                "MELMASTOON.THEME.LOCALE_UNKNOWN", f"{locale!r} is not a locale", status=404
            )
        references = locale_references(doc, locale) if self._on(SW_LOCALE_GUARD) else []
        if references:
            self._emit(LocaleInUse, tenant=tenant, locale=locale, references=tuple(references))
            raise ServiceError(
                "LOCALE_IN_USE",
                f"locale {locale!r} is still used by {len(references)} reference(s);"
                " move that copy to another locale first",
                status=409,
                details={"references": references},
            )
        doc.locales = [x for x in doc.locales if x != locale]
        doc.copy_.pop(locale, None)
        return await self.save(
            tenant, theme_id, doc, found["revision"] if if_match is None else if_match
        )

    # -- publish --------------------------------------------------------------------------
    async def publish(self, tenant: str, theme_id: str) -> dict[str, Any]:
        """Validate (no transaction yet), build the bundle, upload it, then flip the
        active publication in one transaction."""
        found = await self.guarded(self._row, tenant, theme_id)
        revision = int(found["revision"])
        doc = ThemeDocument.model_validate(json.loads(found["document"]))
        violations = publish_violations(doc) if self._on(SW_PUBLISH_GATE) else []
        if violations:
            paths = tuple(v.path for v in violations)
            self._emit(PublishRejected, tenant=tenant, violations=paths)
            raise ServiceError(
                "MELMASTOON.THEME.PUBLISH_INVALID",
                f"theme {theme_id} revision {revision} cannot be published:"
                f" {len(violations)} field(s) invalid",
                status=422,
                details={"violations": [v.as_dict() for v in violations]},
            )
        await self._check_presets(tenant, theme_id, doc)
        base = await self._active_revision(tenant, theme_id)
        if base == revision:  # already the active publication: publishing again is a no-op
            return await self.active(tenant, theme_id) | {"theme": theme_id}
        bundle = build_bundle(theme_id, revision, doc, self.html.sanitize)
        self._meter(tenant, theme_id, len(bundle.data))
        key = f"bundles/{tenant}/{theme_id}/{bundle.sha256}.json"
        # The object goes first: a failed or slow upload (cut by the policy's timeout)
        # aborts before any transaction, so the database never names a missing object.
        try:
            await self.rt.policy(UPLOAD).acall(self.rt.objects.put, key, bundle.data)
        except Exception as err:
            reason = getattr(err, "code", type(err).__name__)
            self._emit(BundleUploadFailed, tenant=tenant, theme=theme_id, reason=str(reason))
            raise ServiceError(
                "MELMASTOON.THEME.BUNDLE_UPLOAD_FAILED",
                f"the bundle could not be stored ({reason}); nothing was published, retry",
                status=503,
                retry_after=10,
            ) from err
        try:
            pending = await self.guarded(
                self._flip, tenant, theme_id, revision, base, key, bundle.sha256, len(bundle.data)
            )
        except mitigate.StoreDataError as err:
            reaped = await self._reap(key) if self._on(SW_COMPENSATION) else ""
            self._emit(
                PublishConflict, tenant=tenant, theme=theme_id, revision=revision, reaped=reaped
            )
            raise ServiceError(
                "PUBLISH_CONFLICT",
                f"theme {theme_id} was published by someone else meanwhile; reload and retry",
                status=409,
            ) from err
        await self.events.after_commit(pending)
        self._purge_enqueued()
        return {
            "theme": theme_id,
            "revision": revision,
            "sha256": bundle.sha256,
            "size": len(bundle.data),
        }

    async def rollback(self, tenant: str, theme_id: str, revision: int) -> dict[str, Any]:
        """Make an earlier publication active again: its object is still there (a
        publication's object is never reaped while its row exists), so this needs no
        build and no upload, only the flip."""
        rows = await self.guarded(
            self.rt.store.fetch,
            "SELECT object_key, sha256, size, active FROM theme_publications"
            " WHERE tenant = ? AND theme_id = ? AND revision = ?",
            (tenant, theme_id, revision),
        )
        if not rows:
            raise ServiceError(
                "MELMASTOON.THEME.NO_SUCH_PUBLICATION",
                f"theme {theme_id} was never published at revision {revision}",
                status=404,
            )
        key, sha256, size, active = rows[0]
        if not active:
            base = await self._active_revision(tenant, theme_id)
            try:
                pending = await self.guarded(
                    self._flip, tenant, theme_id, revision, base, key, sha256, int(size)
                )
            except mitigate.StoreDataError as err:
                raise ServiceError(
                    "PUBLISH_CONFLICT",
                    f"theme {theme_id} was published meanwhile; reload and retry",
                    status=409,
                ) from err
            await self.events.after_commit(pending)
            self._purge_enqueued()
        return {"theme": theme_id, "revision": revision, "sha256": sha256, "size": int(size)}

    def _purge_enqueued(self) -> None:
        if self.on_purge is not None:
            self.on_purge()

    async def _check_presets(self, tenant: str, theme_id: str, doc: ThemeDocument) -> None:
        """Every selected layout preset must still be active (a read, no transaction)."""
        if not doc.layout_selections or not self._on(SW_PRESET_GATE):
            return
        active = {
            str(r[0])
            for r in await self.rt.store.fetch(
                "SELECT key FROM theme_layout_presets WHERE active = 1"
            )
        }
        gone = sorted(
            surface
            for surface, selection in doc.layout_selections.items()
            if selection.preset_key not in active
        )
        if not gone:
            return
        self._emit(LayoutPresetInactive, tenant=tenant, surfaces=tuple(gone))
        raise ServiceError(
            "MELMASTOON.THEME.LAYOUT_PRESET_INACTIVE",
            f"theme {theme_id}: the layout preset of {', '.join(gone)} is no longer active;"
            " choose another preset",
            status=422,
            details={
                "violations": [
                    {
                        "path": f"layoutSelections.{surface}.presetKey",
                        "message": "preset is no longer active",
                    }
                    for surface in gone
                ]
            },
        )

    async def set_preset(self, key: str, active: bool) -> dict[str, Any]:
        """The front-end platform (de)activates a layout preset."""
        async with self.rt.store.transaction() as tx:
            await tx.execute("DELETE FROM theme_layout_presets WHERE key = ?", (key,))
            await tx.execute(
                "INSERT INTO theme_layout_presets (key, active) VALUES (?, ?)",
                (key, 1 if active else 0),
            )
        return {"key": key, "active": active}

    def _meter(self, tenant: str, theme_id: str, size: int) -> None:
        """The soft budget: a warning, a metric and an event per breach; never a refusal."""
        if size <= BUDGET_BYTES or not self._on(SW_BUDGET):
            return
        self.breaches.labels(tenant=tenant).inc()
        log.warning(
            "theme %s/%s bundle is %d bytes, over the %d byte budget",
            tenant,
            theme_id,
            size,
            BUDGET_BYTES,
        )
        self._emit(BundleOverBudget, tenant=tenant, theme=theme_id, size=size, budget=BUDGET_BYTES)

    async def _active_revision(self, tenant: str, theme_id: str) -> int | None:
        rows = await self.rt.store.fetch(
            "SELECT revision FROM theme_publications WHERE tenant = ? AND theme_id = ?"
            " AND active = 1",
            (tenant, theme_id),
        )
        return int(rows[0][0]) if rows else None

    async def _flip(
        self,
        tenant: str,
        theme_id: str,
        revision: int,
        base: int | None,
        key: str,
        sha256: str,
        size: int,
    ) -> mitigate.Message | None:
        """Make ``revision`` the active publication in one transaction. Only the
        publication this publish started from is deactivated: when another publish flipped
        first, the insert meets ``theme_publications_active_uq`` and everything rolls back."""
        guard = self._on(SW_FLIP_GUARD)
        async with self.rt.store.transaction() as tx:
            if guard:
                await tx.execute(
                    "UPDATE theme_publications SET active = 0 WHERE tenant = ? AND theme_id = ?"
                    " AND active = 1 AND revision = ?",
                    (tenant, theme_id, -1 if base is None else base),
                )
                await tx.execute(  # an older publication of this revision (a rollback)
                    "DELETE FROM theme_publications WHERE tenant = ? AND theme_id = ?"
                    " AND revision = ? AND active = 0",
                    (tenant, theme_id, revision),
                )
            else:
                await tx.execute(
                    "UPDATE theme_publications SET active = 0 WHERE tenant = ? AND theme_id = ?",
                    (tenant, theme_id),
                )
                await tx.execute(
                    "DELETE FROM theme_publications WHERE tenant = ? AND theme_id = ?"
                    " AND revision = ?",
                    (tenant, theme_id, revision),
                )
            await tx.execute(
                "INSERT INTO theme_publications (tenant, theme_id, revision, object_key, sha256,"
                " size, active, at) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
                (tenant, theme_id, revision, key, sha256, size, self.rt.clock.wall()),
            )
            await tx.execute(
                "UPDATE theme_themes SET state = 'published' WHERE tenant = ? AND id = ?"
                " AND revision = ?",
                (tenant, theme_id, revision),
            )
            await enqueue_purge(tx, tenant, theme_id, self.rt.clock.now())
            return await self.events.published(tx, tenant, theme_id, revision, sha256)

    async def _reap(self, key: str) -> str:
        """Saga compensation: delete the loser's object unless a publication names it
        (identical bytes share one content-addressed object)."""
        rows = await self.rt.store.fetch(
            "SELECT 1 FROM theme_publications WHERE object_key = ?", (key,)
        )
        if rows:
            return ""
        await self.rt.objects.delete(key)
        return key

    async def active(self, tenant: str, theme_id: str) -> dict[str, Any]:
        rows = await self.rt.store.fetch(
            "SELECT revision, object_key, sha256, size FROM theme_publications"
            " WHERE tenant = ? AND theme_id = ? AND active = 1",
            (tenant, theme_id),
        )
        if not rows:
            raise ServiceError(
                "MELMASTOON.THEME.NOT_PUBLISHED", f"theme {theme_id} has no publication", status=404
            )
        revision, key, sha256, size = rows[0]
        return {"revision": int(revision), "objectKey": key, "sha256": sha256, "size": int(size)}

    async def bundle(self, tenant: str, theme_id: str) -> tuple[bytes, dict[str, Any]]:
        """The active bundle's bytes (what the CDN caches) and its publication."""
        active = await self.active(tenant, theme_id)
        return await self.rt.objects.get(active["objectKey"]), active

    # -- reads ----------------------------------------------------------------------------
    async def _row(self, tenant: str, theme_id: str) -> dict[str, Any]:
        async with self.scope.as_tenant(tenant):
            rows = await self.scope.read(
                "SELECT tenant, revision, state, document FROM theme_themes"
                " WHERE tenant = ? AND id = ?",
                (tenant, theme_id),
            )
        if not rows:
            raise ServiceError("MELMASTOON.THEME.NOT_FOUND", f"no theme {theme_id}", status=404)
        _, revision, state, document = rows[0]
        return {"revision": int(revision), "state": state, "document": document}

    async def get(self, tenant: str, theme_id: str) -> dict[str, Any]:
        found = await self._row(tenant, theme_id)
        return {
            "id": theme_id,
            "revision": found["revision"],
            "state": found["state"],
            "document": json.loads(found["document"]),
        }

    async def render(self, tenant: str, theme_id: str) -> dict[str, Any]:
        """The blocks as pages show them: sanitised again, whatever the row holds (a row
        written around the write path is cleaned here too)."""
        found = await self._row(tenant, theme_id)
        doc = json.loads(found["document"])
        clean = self._on(SW_SANITISE_RENDER)
        blocks = [
            {
                "id": b.get("id", ""),
                "html": self.html.sanitize(str(b.get("html", ""))) if clean else b.get("html", ""),
            }
            for b in doc.get("blocks", [])
        ]
        if self.assets is not None:
            blocks = await self.assets.tolerate(tenant, blocks)
        return {"id": theme_id, "revision": found["revision"], "blocks": blocks}
