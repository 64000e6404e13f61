"""The publish saga: start -> build -> sign -> upload -> register -> announce -> confirm.

- build: the manifest passes the validation gate, the package fits the tenant's plan, and
  each asset streams once through SHA-256 into the package index;
- sign: the package index digest is signed by the KMS (``kms.sign``);
- upload: the assets stream into the package object (each checked against its SHA-256)
  and the signed index follows (``objects.put``);
- register: the catalog service records the package (``catalog.register``, its own 45 s
  deadline, content.chaos.4);
- announce: ``content.package.built.v1`` goes into the outbox in the same transaction as
  the package's state;
- confirm: the catalog has consumed the event and the package is live; the draft is
  published.

Steps other than register run under ``publish.step`` (5 retries, exp cap 30 s); an
invalid manifest, a missing asset or an oversized package is permanent and not retried.
The saga times out after 15 min and raises a stuck alert after 5 min in one step.
Compensation (content.fm.1.1) withdraws the registration, deletes the package objects,
discards the package, returns the draft to ``approved`` and alerts the author.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import mitigate
from services.kit.calls import PermanentError, call
from services.kit.errors import ServiceError
from services.kit.http import Remote, RemoteRefusedError

from .adapters.builder import BuilderOomError, InlineBuilder, ProcessBuilder
from .domain.drafts import DraftState, can_publish
from .domain.manifest import Asset, Manifest, ManifestError, parse_manifest
from .events import BuilderOom

__all__ = ["BUILT_SUBJECT", "RUNBOOK", "SAGA", "Publisher"]

SAGA = "content.publish"
BUILT_SUBJECT = "content.package.built.v1"
RUNBOOK = "runbooks/content/build-failures.md"
DEADLINE = 15 * 60.0
STUCK_AFTER = 5 * 60.0


class PackageTooLargeError(PermanentError):
    code = "CONTENT.BUILD.TOO_LARGE"


class BuildRefusedError(PermanentError):
    """A permanent build failure carrying its stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code


def _code(error: BaseException) -> str:
    return str(getattr(error, "code", "") or "CONTENT.BUILD.FAILED")


class Publisher:
    """The publish use case and its saga, on a runtime."""

    def __init__(
        self,
        runtime: Any,
        settings: Any,
        *,
        assets: Any,
        catalog: Remote,
        signer: Any,
    ) -> None:
        self.rt = runtime
        self.settings = settings
        self.assets = assets
        self.catalog = catalog
        self.signer = signer
        self.outbox = mitigate.Outbox(runtime.store)
        switches = runtime.switches
        self.gate = switches.enabled("content.switch.manifest-gate")
        self.size_cap = switches.enabled("content.switch.size-cap")
        self.streaming = switches.enabled("content.switch.streaming-build")
        compensate = switches.enabled("content.switch.compensation")
        self.saga = mitigate.Saga(
            SAGA,
            [
                # Always completed first, so its compensation runs last on any failure: the
                # rollback the author sees (draft approved again, alert).
                mitigate.Step("start", self._start, self._rollback if compensate else None),
                mitigate.Step("build", self._build),
                mitigate.Step("sign", self._sign),
                mitigate.Step("upload", self._upload, self._undo_upload if compensate else None),
                mitigate.Step(
                    "register", self._register, self._undo_register if compensate else None
                ),
                mitigate.Step("announce", self._announce),
                mitigate.Step("confirm", self._confirm),
            ],
            deadline=DEADLINE if switches.enabled("content.switch.saga-deadline") else None,
            stuck_after=STUCK_AFTER,
            runbook=RUNBOOK,
        )
        self.worker = mitigate.SagaWorker(
            runtime.store,
            [self.saga],
            clock=runtime.clock,
            observers=runtime.observers,
            policies=runtime.policy,
            poll=settings.saga_poll,
        )
        if settings.builder == "process":
            virtual = isinstance(runtime.clock, mitigate.VirtualClock)
            self.builder: Any = ProcessBuilder(
                assets, runtime.policy, memory_mb=settings.builder_memory_mb, blocking=virtual
            )
        else:
            self.builder = InlineBuilder(assets, runtime.policy)

    # -- the API's side -------------------------------------------------------------------
    async def save_draft(self, tenant: str, draft_id: str, manifest: Manifest) -> dict[str, Any]:
        now = self.rt.clock.wall()
        raw = manifest.model_dump_json(exclude_none=True)
        async with self.rt.store.transaction() as tx:
            row = await tx.fetchone(
                "SELECT tenant, state FROM content_drafts WHERE id = ?", (draft_id,)
            )
            if row is not None and row[0] != tenant:
                raise ServiceError("CONTENT.DRAFT.NOT_FOUND", f"no draft {draft_id}", status=404)
            if row is not None and row[1] == DraftState.BUILDING:
                raise ServiceError(
                    "CONTENT.DRAFT.BUSY",
                    f"draft {draft_id} is being published; wait for the publish to end",
                    status=409,
                )
            if row is None:
                await tx.execute(
                    "INSERT INTO content_drafts (id, tenant, state, manifest, updated_at)"
                    " VALUES (?, ?, 'approved', ?, ?)",
                    (draft_id, tenant, raw, now),
                )
            else:
                await tx.execute(
                    "UPDATE content_drafts SET manifest = ?, state = 'approved', error = NULL,"
                    " updated_at = ? WHERE id = ?",
                    (raw, now, draft_id),
                )
        return await self.draft(tenant, draft_id)

    async def draft(self, tenant: str, draft_id: str) -> dict[str, Any]:
        rows = await self.rt.store.fetch(
            "SELECT id, state, manifest, publish_id, package_id, error FROM content_drafts"
            " WHERE id = ? AND tenant = ?",
            (draft_id, tenant),
        )
        if not rows:
            raise ServiceError("CONTENT.DRAFT.NOT_FOUND", f"no draft {draft_id}", status=404)
        id_, state, manifest, publish_id, package_id, error = rows[0]
        return {
            "id": id_,
            "state": state,
            "manifest": json.loads(manifest),
            "publishId": publish_id,
            "packageId": package_id,
            "error": error,
        }

    async def request(self, tenant: str, draft_id: str) -> dict[str, Any]:
        """Start publishing ``draft_id``: the draft moves to ``building`` and the saga is
        recorded for the saga worker."""
        publish_id = uuid.uuid4().hex
        package_id = f"pkg-{uuid.uuid4().hex[:16]}"
        async with self.rt.store.transaction() as tx:
            row = await tx.fetchone(
                "SELECT state FROM content_drafts WHERE id = ? AND tenant = ?", (draft_id, tenant)
            )
            if row is None:
                raise ServiceError("CONTENT.DRAFT.NOT_FOUND", f"no draft {draft_id}", status=404)
            if not can_publish(row[0]):
                raise ServiceError(
                    "CONTENT.DRAFT.BUSY",
                    f"draft {draft_id} is {row[0]}; only an approved draft can be published",
                    status=409,
                )
            await tx.execute(
                "UPDATE content_drafts SET state = 'building', publish_id = ?, package_id = ?,"
                " error = NULL, updated_at = ? WHERE id = ?",
                (publish_id, package_id, self.rt.clock.wall(), draft_id),
            )
        try:
            await self.worker.start(
                SAGA,
                {"tenant": tenant, "draft": draft_id, "package": package_id},
                id=publish_id,
            )
        except BaseException:
            await self._set_draft(draft_id, DraftState.APPROVED, "publish could not start")
            raise
        return {"publishId": publish_id, "packageId": package_id, "state": "building"}

    async def status(self, tenant: str, publish_id: str) -> dict[str, Any]:
        from mitigate import get_saga

        found = await get_saga(self.rt.store, publish_id)
        if found is None or (found.input or {}).get("tenant") != tenant:
            raise ServiceError("CONTENT.PUBLISH.NOT_FOUND", f"no publish {publish_id}", status=404)
        return {"publishId": publish_id, "state": found.state, "error": found.error}

    async def alerts(self, tenant: str, audience: str) -> list[dict[str, Any]]:
        rows = await self.rt.store.fetch(
            "SELECT id, subject, code, message, runbook, at FROM content_alerts"
            " WHERE tenant = ? AND audience = ? ORDER BY at, id",
            (tenant, audience),
        )
        keys = ("id", "subject", "code", "message", "runbook", "at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    async def package(self, tenant: str, package_id: str) -> dict[str, Any]:
        rows = await self.rt.store.fetch(
            "SELECT id, draft_id, state, size, content_sha256, index_sha256, kid"
            " FROM content_packages WHERE id = ? AND tenant = ?",
            (package_id, tenant),
        )
        if not rows:
            raise ServiceError("CONTENT.PACKAGE.NOT_FOUND", f"no package {package_id}", status=404)
        keys = ("id", "draftId", "state", "size", "contentSha256", "indexSha256", "kid")
        return dict(zip(keys, rows[0], strict=True))

    async def build(self, tenant: str, package_id: str) -> dict[str, Any]:
        """The builder's record of a package: built (with its peak RSS) or parked."""
        rows = await self.rt.store.fetch(
            "SELECT id, draft_id, state, reason, peak_rss FROM content_builds"
            " WHERE id = ? AND tenant = ?",
            (package_id, tenant),
        )
        if not rows:
            raise ServiceError("CONTENT.BUILD.NOT_FOUND", f"no build of {package_id}", status=404)
        keys = ("packageId", "draftId", "state", "reason", "peakRss")
        return dict(zip(keys, rows[0], strict=True))

    # -- saga steps -----------------------------------------------------------------------
    def _step(self, fn: Any, *args: Any) -> Any:
        return call(self.rt.policy("publish.step"), fn, *args)

    async def _build(self, ctx: mitigate.StepContext) -> dict[str, Any]:
        return await self._step(self._build_once, ctx.input)  # type: ignore[no-any-return]

    async def _build_once(self, job: dict[str, Any]) -> dict[str, Any]:
        tenant, draft_id, package = job["tenant"], job["draft"], job["package"]
        rows = await self.rt.store.fetch(
            "SELECT manifest FROM content_drafts WHERE id = ?", (draft_id,)
        )
        if not rows:
            raise BuildRefusedError("CONTENT.DRAFT.NOT_FOUND", f"draft {draft_id} is gone")
        manifest = self._manifest(rows[0][0])
        sizes = []
        for asset in manifest.assets:
            size = await call(self.rt.policy("asset.fetch"), self.assets.size, tenant, asset.source)
            if self.gate and asset.size is not None and asset.size != size:
                raise BuildRefusedError(
                    ManifestError.code,
                    f"asset {asset.path}: the manifest says {asset.size} bytes,"
                    f" the file has {size}",
                )
            sizes.append(size)
        cap = self.settings.cap(tenant)
        if self.size_cap and sum(sizes) > cap:
            raise PackageTooLargeError(
                f"[{PackageTooLargeError.code}] too large for plan "
                f"{self.settings.plan(tenant)!r}: {sum(sizes)} bytes over the {cap} byte cap"
            )
        pairs = [(a.path, a.source) for a in manifest.assets]
        try:
            if isinstance(self.builder, ProcessBuilder):
                built = await self.builder.build(tenant, pairs, streaming=self.streaming)
            else:
                built = await self.builder.build(tenant, pairs)
        except BuilderOomError as exc:
            self.rt.emit(
                BuilderOom(
                    target="content.builder",
                    at=self.rt.clock.now(),
                    package=package,
                    limit_mb=self.settings.builder_memory_mb,
                )
            )
            await self._park_build(package, tenant, draft_id, str(exc))
            raise
        await self._record_build(package, tenant, draft_id, built.peak_rss)
        for declared, entry in zip(manifest.assets, built.assets, strict=True):
            if self.gate and declared.sha256 and declared.sha256 != entry["sha256"]:
                raise BuildRefusedError(
                    ManifestError.code, f"asset {declared.path}: SHA-256 differs from the manifest"
                )
        return {
            "size": built.size,
            "assets": built.assets,
            "sources": [a.source for a in manifest.assets],
            "title": manifest.title,
            "version": manifest.version,
            "entry": manifest.entry,
            "peakRss": built.peak_rss,
        }

    def _manifest(self, raw: str) -> Manifest:
        if self.gate:
            try:
                return parse_manifest(raw)
            except ManifestError as exc:
                raise BuildRefusedError(ManifestError.code, f"invalid manifest: {exc}") from exc
        # Without the gate: take the fields as they are (what the gate exists to prevent).
        data = json.loads(raw)
        assets = [Asset.model_construct(**a) for a in data.get("assets", [])]
        return Manifest.model_construct(
            title=data.get("title", ""),
            version=str(data.get("version", "")),
            entry=data.get("entry", ""),
            assets=assets,
        )

    async def _record_build(self, package: str, tenant: str, draft: str, rss: int) -> None:
        await self.rt.store.execute(
            "INSERT INTO content_builds (id, tenant, draft_id, state, peak_rss, at)"
            " VALUES (?, ?, ?, 'built', ?, ?) ON CONFLICT (id) DO NOTHING",
            (package, tenant, draft, rss, self.rt.clock.wall()),
        )

    async def _park_build(self, package: str, tenant: str, draft: str, reason: str) -> None:
        """An OOM-killed build is kept for an admin's review, never dropped (fm.1.8)."""
        await self.rt.store.execute(
            "INSERT INTO content_builds (id, tenant, draft_id, state, reason, at)"
            " VALUES (?, ?, ?, 'parked', ?, ?) ON CONFLICT (id) DO NOTHING",
            (package, tenant, draft, reason, self.rt.clock.wall()),
        )
        await self._alert(
            "admin", tenant, package, BuilderOomError.code, reason, "runbooks/build-oom.md"
        )

    async def _start(self, ctx: mitigate.StepContext) -> dict[str, float]:
        return {"at": self.rt.clock.wall()}

    async def _rollback(self, ctx: mitigate.StepContext) -> None:
        job = ctx.input
        await self.rt.store.execute(
            "UPDATE content_packages SET state = 'discarded' WHERE id = ?", (job["package"],)
        )
        from mitigate import get_saga

        found = await get_saga(self.rt.store, ctx.saga_id)
        reason = (found.error if found is not None else None) or "the publish was rolled back"
        await self._set_draft(job["draft"], DraftState.APPROVED, reason)
        await self._alert(
            "author",
            job["tenant"],
            job["draft"],
            _code_of(reason),
            f"publishing draft {job['draft']} failed and was rolled back: {reason}",
            RUNBOOK,
        )

    async def _sign(self, ctx: mitigate.StepContext) -> dict[str, str]:
        return await self._step(self._sign_once, ctx)  # type: ignore[no-any-return]

    async def _sign_once(self, ctx: mitigate.StepContext) -> dict[str, str]:
        digest = hashlib.sha256(_index_bytes(ctx.input, ctx.results["build"])).digest()
        signature = await call(self.rt.policy("kms.sign"), self.signer.sign, digest)
        return {**signature, "indexSha256": digest.hex()}

    async def _upload(self, ctx: mitigate.StepContext) -> dict[str, Any]:
        return await self._step(self._upload_once, ctx)  # type: ignore[no-any-return]

    async def _upload_once(self, ctx: mitigate.StepContext) -> dict[str, Any]:
        job, built, signed = ctx.input, ctx.results["build"], ctx.results["sign"]
        prefix = f"packages/{job['tenant']}/{job['package']}"
        put = self.rt.policy("objects.put")
        content = f"{prefix}/content.bin"
        info = await call(
            put, lambda: self.rt.objects.put(content, self._package_bytes(job["tenant"], built))
        )
        index = json.loads(_index_bytes(job, built))
        index["contentSha256"] = info.sha256
        index["signature"] = {"kid": signed["kid"], "sig": signed["sig"], "alg": "EdDSA"}
        body = json.dumps(index, sort_keys=True).encode()
        await call(put, lambda: self.rt.objects.put(f"{prefix}/index.json", body))
        await self.rt.store.execute(
            "INSERT INTO content_packages (id, tenant, draft_id, state, size, content_sha256,"
            " index_sha256, kid) VALUES (?, ?, ?, 'uploaded', ?, ?, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (
                job["package"],
                job["tenant"],
                job["draft"],
                info.size,
                info.sha256,
                signed["indexSha256"],
                signed["kid"],
            ),
        )
        return {"prefix": prefix, "contentSha256": info.sha256, "size": info.size}

    async def _package_bytes(self, tenant: str, built: dict[str, Any]) -> AsyncIterator[bytes]:
        """The package: its assets one after the other, streamed from the asset store, each
        checked against the SHA-256 the build recorded (an asset changed since: refused)."""
        for source, entry in zip(built["sources"], built["assets"], strict=True):
            digest = hashlib.sha256()
            async for chunk in self.assets.read(tenant, source):
                digest.update(chunk)
                yield chunk
            if digest.hexdigest() != entry["sha256"]:
                raise BuildRefusedError(
                    "CONTENT.ASSET.CHANGED",
                    f"asset {entry['path']} changed since the build; publish again",
                )

    async def _undo_upload(self, ctx: mitigate.StepContext) -> None:
        prefix = f"packages/{ctx.input['tenant']}/{ctx.input['package']}"
        for name in ("content.bin", "index.json"):
            await self._step(self.rt.objects.delete, f"{prefix}/{name}")

    async def _register(self, ctx: mitigate.StepContext) -> dict[str, Any]:
        job = ctx.input
        body = {
            "packageId": job["package"],
            "tenant": job["tenant"],
            "draftId": job["draft"],
            "digest": ctx.results["upload"]["contentSha256"],
        }
        try:
            answer = await self.catalog.request(
                "catalog.register", "POST", "/v1/packages", json=body
            )
        except RemoteRefusedError as exc:
            raise BuildRefusedError("CONTENT.CATALOG.REFUSED", str(exc)) from exc
        return {"status": answer.get("status") if isinstance(answer, dict) else None}

    async def _undo_register(self, ctx: mitigate.StepContext) -> None:
        path = f"/v1/packages/{ctx.input['package']}"
        # The undo must outlast a partition: the publish step's schedule, not the 45 s one.
        await self._step(self.catalog.request, "catalog.register", "DELETE", path)

    async def _announce(self, ctx: mitigate.StepContext) -> dict[str, str]:
        return await self._step(self._announce_once, ctx)  # type: ignore[no-any-return]

    async def _announce_once(self, ctx: mitigate.StepContext) -> dict[str, str]:
        job = ctx.input
        payload = {
            "packageId": job["package"],
            "tenant": job["tenant"],
            "draftId": job["draft"],
            "contentSha256": ctx.results["upload"]["contentSha256"],
            "indexSha256": ctx.results["sign"]["indexSha256"],
        }
        msg_id = f"built-{job['package']}"
        async with self.rt.store.transaction() as tx:
            await tx.execute(
                "UPDATE content_packages SET state = 'announced' WHERE id = ?", (job["package"],)
            )
            subject = self.rt.settings.subject(BUILT_SUBJECT)
            await self.outbox.enqueue(tx, subject, payload, key=job["draft"], msg_id=msg_id)
        self.outbox.notify()
        return {"msgId": msg_id}

    async def _confirm(self, ctx: mitigate.StepContext) -> dict[str, str]:
        """Wait until the catalog has consumed the built event (the package is live)."""
        job = ctx.input
        path = f"/v1/packages/{job['package']}"
        while True:
            try:
                found = await self.catalog.request("catalog.register", "GET", path)
            except Exception:  # the catalog is unreachable for now; the deadline bounds us
                found = None
            status = found.get("status") if isinstance(found, dict) else None
            if status == "live":
                break
            if status == "withdrawn":
                raise BuildRefusedError("CONTENT.CATALOG.WITHDRAWN", f"{path} was withdrawn")
            await self.rt.clock.asleep(self.settings.confirm_poll)
        async with self.rt.store.transaction() as tx:
            await tx.execute(
                "UPDATE content_packages SET state = 'published' WHERE id = ?", (job["package"],)
            )
            await tx.execute(
                "UPDATE content_drafts SET state = 'published', updated_at = ? WHERE id = ?",
                (self.rt.clock.wall(), job["draft"]),
            )
        return {"status": "live"}

    # -- helpers --------------------------------------------------------------------------
    async def _set_draft(self, draft_id: str, state: DraftState, error: str | None) -> None:
        await self.rt.store.execute(
            "UPDATE content_drafts SET state = ?, error = ?, updated_at = ? WHERE id = ?",
            (state.value, error, self.rt.clock.wall(), draft_id),
        )

    async def _alert(
        self, audience: str, tenant: str, subject: str, code: str, message: str, runbook: str
    ) -> None:
        await self.rt.store.execute(
            "INSERT INTO content_alerts (id, audience, tenant, subject, code, message, runbook, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                uuid.uuid4().hex,
                audience,
                tenant,
                subject,
                code,
                message,
                runbook,
                self.rt.clock.wall(),
            ),
        )
        self.rt.emit(
            mitigate.AlertRaised(
                target=SAGA if audience == "author" else "content.builder",
                at=self.rt.clock.now(),
                rule=f"content.alert.{audience}",
                message=f"{message} (runbook: {runbook})",
            )
        )


def _code_of(reason: str) -> str:
    """The stable code inside an error text ``[CODE] ...``, or the generic build code."""
    if "[" in reason and "]" in reason:
        inner = reason[reason.index("[") + 1 : reason.index("]")]
        if inner.replace(".", "").replace("_", "").isalnum() and inner.isupper():
            return inner
    return "CONTENT.BUILD.FAILED"


def _index_bytes(job: dict[str, Any], built: dict[str, Any]) -> bytes:
    index = {
        "packageId": job["package"],
        "tenant": job["tenant"],
        "draftId": job["draft"],
        "title": built["title"],
        "version": built["version"],
        "entry": built["entry"],
        "size": built["size"],
        "assets": built["assets"],
    }
    return json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
