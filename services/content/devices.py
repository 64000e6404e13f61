"""The device side of the content service: registration, offline bundles (queued when
the KMS is down), licences and their status, sync with revocations first, push on
reconnect, tamper reports and device trust, signing keys, signed download URLs with CDN
and origin, and the assistant configuration. Every remote call goes through the
catalog's policy of that name; every mitigation that is not a policy is a named switch.

State is kept in process (embedded default)."""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import mitigate

from . import device_codec as codec
from .adapters.ai_gateway import AssistantConfigClient
from .adapters.device_state import MemoryState
from .adapters.kms import LocalKms
from .adapters.push import PushClient
from .domain import sealing
from .domain.bundles import (
    PREPARING,
    BundleRequest,
    BundleStatus,
    DeviceKeyMissingError,
    StorageFullError,
)
from .domain.licenses import LicenseRecord, LicenseState, license_state, lifetime_for
from .domain.sync import Delta, order_deltas

# Mitigations that are not policies; `--mutate` turns each off through the run's switches.
SWITCH_REVOCATIONS_FIRST = "content.switch.revocations-first"
SWITCH_TAMPER_DEDUPE = "content.switch.tamper-dedupe"
SWITCH_DEVICE_TRUST = "content.switch.device-trust"
SWITCH_FRESH_DOWNLOAD = "content.switch.fresh-download"
SWITCH_KEYS_VIA_SYNC = "content.switch.keys-via-sync"
SWITCH_CDN_PURGE = "content.switch.cdn-purge"
SWITCH_REBUILD = "content.switch.rebuild-flagged"

MAX_OFFLINE_SOURCE = 64 << 20
"""Offline source of one course held for bundling (built packages stream; this does not)."""

PARK_REDRIVE_AFTER = 300.0
"""Parked bundle jobs are re-driven after 5 minutes (they stay parked, never dropped)."""


class ContentError(Exception):
    """An error the API answers with its code and status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class AllOn:
    """Every switch on: the default outside an experiment."""

    def enabled(self, name: str) -> bool:
        return True


@dataclass(slots=True)
class Device:
    device_id: str
    tenant: str
    public_key: bytes | None
    push_token: str
    seq_seen: int = 0


@dataclass(slots=True)
class Bundle:
    request: BundleRequest
    status: BundleStatus
    version: int = 0
    object_key: str = ""
    sha256: bytes = b""
    envelope: str = ""
    sealed_key: bytes = b""
    license_id: str = ""
    reason: str = ""
    flagged: bool = False


@dataclass(slots=True)
class Job:
    job_id: str
    request: BundleRequest
    state: str = "queued"  # queued | running | done | parked | dead
    reason: str = ""
    parked_at: float = 0.0
    runs: int = 0


@dataclass(slots=True)
class Ports:
    kms: LocalKms
    push: PushClient
    ai: AssistantConfigClient
    cdn: httpx.AsyncClient | None  # the CDN's purge API; None: no CDN in front
    cdn_base: str
    origin_base: str


@dataclass
class DeviceSide:
    clock: mitigate.Clock
    policy: Callable[[str], Any]
    ring: mitigate.KeyRing
    url_signer: mitigate.UrlSigner
    ports: Ports
    objects_root: Path
    tamper_threshold: int
    tamper_window: float | None = None
    license_lifetimes: dict[str, float] = field(default_factory=dict)
    observers: Iterable[Any] = ()
    report: Callable[[str, float], None] = lambda metric, value: None
    switches: Any = field(default_factory=AllOn)
    state: Any = field(default_factory=MemoryState)
    ops_token: str | None = None  # operator routes (/ops/...) need it in x-ops-token

    def __post_init__(self) -> None:
        self.signer = mitigate.EnvelopeSigner(self.ring)
        self.trust = mitigate.DeviceTrust(
            threshold=self.tamper_threshold,
            window=self.tamper_window,
            clock=self.clock,
            observers=list(self.observers),
        )
        self.devices: dict[str, Device] = {}
        self.courses: dict[str, bytes] = {}
        self.bundles: dict[str, Bundle] = {}
        self.jobs: dict[str, Job] = {}
        self.licenses: dict[str, LicenseRecord] = {}
        self.deltas: dict[str, list[Delta]] = {}
        self.pending_revocations: set[tuple[str, str]] = set()
        self.push_failures: dict[str, int] = {}
        self.tamper_reports_processed = 0
        self.rebuilt: list[str] = []
        self.origin_urls = 0  # origin load: signed URLs that bypass the CDN
        self._seen_reports: set[str] = set()
        self._seq = itertools.count(1)
        self._versions: dict[str, int] = {}
        self._license_tokens: dict[str, str] = {}
        self._delta_index: dict[str, tuple[str, Delta]] = {}
        self._reports: dict[str, dict[str, Any]] = {}  # tamper reports counted, by key
        self._dirty: set[tuple[str, str]] = set()
        self._observers = mitigate.Observers(list(self.observers))
        self.objects_root.mkdir(parents=True, exist_ok=True)

    # -- fallbacks the catalog names (given to catalog.provide before policies are built)
    def fallback_handlers(self) -> dict[str, Callable[..., Any]]:
        return {
            "content.fallback.1": self._queue_bundle,
            "content.fallback.2": self._push_failed,
        }

    # -- devices -------------------------------------------------------------------------
    def register(self, device_id: str, tenant: str, public_key: str | None, push: str) -> Device:
        if not device_id or not tenant:
            raise ContentError("CONTENT.DEVICE.INVALID", "device_id and tenant are required")
        key = None
        if public_key:
            try:
                key = base64.b64decode(public_key, validate=True)
            except ValueError:
                raise ContentError("CONTENT.DEVICE.INVALID", "public_key is not base64") from None
            if len(key) != 32:
                raise ContentError("CONTENT.DEVICE.INVALID", "public_key must be 32 raw bytes")
        device = Device(device_id, tenant, key, push or device_id)
        self.devices[device_id] = device
        self.deltas.setdefault(device_id, [])
        self._touch("device", device_id)
        return device

    def device_any(self, device_id: str) -> Device:
        """The registered device, trusted or not (operators restore revoked ones)."""
        device = self.devices.get(device_id)
        if device is None:
            raise ContentError(
                "CONTENT.DEVICE.UNKNOWN", f"device {device_id}: not registered; register it", 404
            )
        return device

    def device(self, device_id: str) -> Device:
        """The registered device, refused once its trust was revoked."""
        device = self.device_any(device_id)
        if self.switches.enabled(SWITCH_DEVICE_TRUST):
            try:
                self.trust.require_trusted(device_id)
            except mitigate.DeviceRevokedError as err:
                raise ContentError(err.code, str(err), 403) from None
        return device

    def owned_bundle(self, device_id: str, bundle_id: str) -> Bundle:
        """The device's own bundle; another device's is not found (no token leaks)."""
        bundle = self.bundles.get(bundle_id)
        if bundle is None or bundle.request.device_id != device_id:
            raise ContentError("CONTENT.BUNDLE.UNKNOWN", f"bundle {bundle_id}: not requested", 404)
        return bundle

    def add_course(self, course_id: str, content: bytes) -> None:
        if len(content) > MAX_OFFLINE_SOURCE:
            raise ContentError(
                "CONTENT.COURSE.TOO_LARGE",
                f"course {course_id}: {len(content)} bytes; the offline source is capped at "
                f"{MAX_OFFLINE_SOURCE} bytes",
                413,
            )
        self.courses[course_id] = content
        self._touch("course", course_id)

    # -- bundles -------------------------------------------------------------------------
    async def request_bundle(self, device_id: str, course_id: str) -> dict[str, Any]:
        device = self.device(device_id)
        if course_id not in self.courses:
            raise ContentError("CONTENT.COURSE.UNKNOWN", f"course {course_id}: not published", 404)
        request = BundleRequest(device.tenant, device_id, course_id)
        existing = self.bundles.get(request.bundle_id)
        if existing is not None and existing.status is not BundleStatus.READY:
            return self.bundle_view(request.bundle_id)  # one job per bundle, however often asked
        if existing is not None and not existing.flagged:
            return self.bundle_view(request.bundle_id)
        await self.policy("bundle.realtime").acall(self._build, request)
        return self.bundle_view(request.bundle_id)

    async def _queue_bundle(self, request: BundleRequest) -> str:
        bundle = self.bundles.setdefault(request.bundle_id, Bundle(request, BundleStatus.PREPARING))
        bundle.status = BundleStatus.PREPARING
        job_id = f"bundle:{request.bundle_id}"
        job = self.jobs.get(job_id)
        if job is None or job.state in ("done", "dead"):  # same key = same job otherwise
            self.jobs[job_id] = Job(job_id, request)
        self._touch("bundle", request.bundle_id)
        self._touch("job", job_id)
        self._report_jobs()
        return PREPARING

    async def _build(self, request: BundleRequest) -> str:
        device = self.devices[request.device_id]
        if device.public_key is None:
            raise DeviceKeyMissingError(f"device {device.device_id} registered no public key")
        content = self.courses[request.course_id]
        aad = request.bundle_id.encode()
        data_key = sealing.new_data_key()
        sealed = sealing.encrypt(data_key, content, aad)
        await self.policy("kms.encrypt").acall(self.ports.kms.wrap, data_key, request.bundle_id)
        version = self._versions.get(request.bundle_id, 0) + 1
        key = f"bundles/{request.bundle_id}/v{version}"
        await self.policy("objects.put").acall(self._write_object, key, sealed)

        async def sign() -> mitigate.BundleEnvelope:
            return self.signer.sign_bundle(request.bundle_id, sealed, version=version)

        envelope = await self.policy("kms.sign").acall(sign)
        lifetime = lifetime_for(self.license_lifetimes, request.tenant)
        lic = self.signer.issue_license(request.bundle_id, request.device_id, lifetime=lifetime)
        self.licenses[lic.license_id] = LicenseRecord(
            lic.license_id, request.bundle_id, request.device_id, lic.issued_at, lic.expires_at
        )
        self._license_tokens[lic.license_id] = lic.token
        self._versions[request.bundle_id] = version
        self.bundles[request.bundle_id] = Bundle(
            request,
            BundleStatus.READY,
            version=version,
            object_key=key,
            sha256=hashlib.sha256(sealed).digest(),
            envelope=envelope.token,
            sealed_key=sealing.seal_for_device(data_key, device.public_key, aad),
            license_id=lic.license_id,
        )
        self._add_delta(request.device_id, Delta("bundle", request.bundle_id))
        self._touch("license", lic.license_id)
        self._touch("bundle", request.bundle_id)
        self._touch("version", request.bundle_id)
        return "ready"

    async def _write_object(self, key: str, data: bytes) -> None:
        """Write the whole object under a temporary name, then rename it into place: a
        full disk (ENOSPC) leaves no partial object behind."""
        path = self.objects_root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        try:
            part.write_bytes(data)
        except OSError as err:
            part.unlink(missing_ok=True)
            if err.errno == errno.ENOSPC:
                raise StorageFullError(errno.ENOSPC, f"disk full writing {key}") from err
            raise
        part.replace(path)

    async def work_once(self) -> int:
        """Run every queued bundle job through the bundle-create schedule, concurrently
        (one job's retry waits must not hold back the others)."""
        queued = [j for j in self.jobs.values() if j.state == "queued"]
        for job in queued:
            job.state = "running"
        results = await asyncio.gather(*(self._run_job(job) for job in queued))
        self._report_jobs()
        await self.flush()
        return sum(results)

    async def _run_job(self, job: Job) -> int:
        job.runs += 1
        self._touch("job", job.job_id)
        try:
            outcome = await self.policy("bundle.create").acall(self._build_job, job.request)
        except Exception as err:  # retries and budget exhausted: park, never drop
            job.state, job.reason, job.parked_at = "parked", _reason(err), self.clock.now()
            return 0
        if outcome == "dead":
            job.state = "dead"
            return 0
        job.state = "done"
        return 1

    async def _build_job(self, request: BundleRequest) -> str:
        try:
            return await self._build(request)
        except DeviceKeyMissingError as err:  # permanent: a result, so nothing retries it
            job = self.jobs[f"bundle:{request.bundle_id}"]
            job.reason = f"{DeviceKeyMissingError.code}: {err}"
            bundle = self.bundles[request.bundle_id]
            bundle.status, bundle.reason = BundleStatus.FAILED, job.reason
            self._touch("bundle", request.bundle_id)
            return "dead"

    def redrive_parked(self) -> int:
        now = self.clock.now()
        moved = 0
        for job in self.jobs.values():
            if job.state == "parked" and now - job.parked_at >= PARK_REDRIVE_AFTER:
                job.state = "queued"
                self._touch("job", job.job_id)
                moved += 1
        return moved

    async def run_worker(self, stop: Any, *, every: float = 1.0) -> None:
        """The bundle worker: build queued jobs, re-drive parked ones after 5 minutes."""
        while not stop.is_set():
            self.redrive_parked()
            await self.work_once()
            await self.clock.asleep(every)

    def job_counts(self) -> dict[str, int]:
        counts = {"queued": 0, "running": 0, "done": 0, "parked": 0, "dead": 0}
        for job in self.jobs.values():
            counts[job.state] += 1
        return counts

    def _report_jobs(self) -> None:
        counts = self.job_counts()
        self.report("content_bundle_jobs_parked", counts["parked"] + counts["dead"])

    def bundle_view(self, bundle_id: str) -> dict[str, Any]:
        bundle = self.bundles.get(bundle_id)
        if bundle is None:
            raise ContentError("CONTENT.BUNDLE.UNKNOWN", f"bundle {bundle_id}: not requested", 404)
        view: dict[str, Any] = {"bundleId": bundle_id, "status": bundle.status.value}
        if bundle.status is BundleStatus.PREPARING:
            view["message"] = PREPARING
        elif bundle.status is BundleStatus.FAILED:
            view["message"] = "offline copy unavailable; support has been told"
            view["reason"] = bundle.reason
        else:
            record = self.licenses[bundle.license_id]
            view.update(
                version=bundle.version,
                sha256=_b64(bundle.sha256),
                envelope=bundle.envelope,
                sealedKey=_b64(bundle.sealed_key),
                licenseId=bundle.license_id,
                license=self._license_tokens[bundle.license_id],
                expiresAt=record.expires_at,
            )
        return view

    # -- licences ------------------------------------------------------------------------
    def license_status(self, license_id: str) -> dict[str, Any]:
        record = self.licenses.get(license_id)
        if record is None:
            raise ContentError("CONTENT.LICENSE.UNKNOWN", f"licence {license_id}: unknown", 404)
        state = license_state(record, self.clock.wall())
        return {
            "id": license_id,
            "status": state.value,
            "expiresAt": record.expires_at,
            "device": record.device_id,
            "bundle": record.bundle_id,
            "message": _license_message(state),
        }

    def mark_fetched(self, license_id: str) -> None:
        record = self.licenses.get(license_id)
        if record is not None and not record.fetched:
            self.licenses[license_id] = _replace(record, fetched=True)
            self._touch("license", license_id)

    async def revoke(self, bundle_id: str) -> dict[str, Any]:
        bundle = self.bundles.get(bundle_id)
        if bundle is None or not bundle.license_id:
            raise ContentError(
                "CONTENT.BUNDLE.UNKNOWN", f"bundle {bundle_id}: nothing to revoke", 404
            )
        record = self.licenses[bundle.license_id]
        self.licenses[record.license_id] = _replace(record, revoked=True)
        self._touch("license", record.license_id)
        device_id = bundle.request.device_id
        self._add_delta(device_id, Delta("revocation", bundle_id, {"licenseId": record.license_id}))
        self.pending_revocations.add((device_id, bundle_id))
        self._touch("pending", f"{device_id}|{bundle_id}")
        self.report("content_revocations_pending", len(self.pending_revocations))
        pushed = await self.policy("revocation.push").acall(self._push_sync, device_id)
        return {"bundleId": bundle_id, "push": pushed}

    async def _push_sync(self, device_id: str) -> str:
        device = self.devices[device_id]
        await self.ports.push.send(device.push_token, {"action": "sync"})
        return "sent"

    async def _push_failed(self, device_id: str) -> str:
        # The push is lost; the revocation still waits in the sync deltas, and the licence
        # expiry bounds how long an offline device can play.
        self.push_failures[device_id] = self.push_failures.get(device_id, 0) + 1
        return "expiry-bounded"

    # -- sync ----------------------------------------------------------------------------
    def _add_delta(self, device_id: str, delta: Delta) -> None:
        numbered = Delta(delta.kind, delta.id, delta.data, next(self._seq))
        self.deltas.setdefault(device_id, []).append(numbered)
        key = f"{device_id}:{numbered.seq}"
        self._delta_index[key] = (device_id, numbered)
        self._touch("delta", key)

    async def sync(
        self, device_id: str, cursor: int, reports: list[dict[str, Any]]
    ) -> dict[str, Any]:
        device = self.device(device_id)
        for report in reports:
            self._tamper_report(device, report)
        self.device(device_id)  # a report in this sync may have revoked the device
        if reports:
            await self.rebuild_flagged()
        fresh = [d for d in self.deltas.get(device_id, []) if d.seq > cursor]
        ordered = order_deltas(
            fresh, revocations_first=self.switches.enabled(SWITCH_REVOCATIONS_FIRST)
        )
        for delta in ordered:
            if delta.kind == "revocation":
                self.pending_revocations.discard((device_id, delta.id))
                self._touch("pending", f"{device_id}|{delta.id}")
        self.report("content_revocations_pending", len(self.pending_revocations))
        device.seq_seen = max([cursor, *(d.seq for d in fresh)])
        self._touch("device", device_id)
        return {"cursor": device.seq_seen, "deltas": [d.as_json() for d in ordered]}

    def _tamper_report(self, device: Device, report: dict[str, Any]) -> None:
        report_id = str(report.get("reportId", ""))
        bundle_id = str(report.get("bundleId", ""))
        if not report_id or not bundle_id:
            raise ContentError(
                "CONTENT.TAMPER.INVALID", "a tamper report needs reportId and bundleId"
            )
        if self.switches.enabled(SWITCH_TAMPER_DEDUPE) and report_id in self._seen_reports:
            return  # a sync retried after a lost answer re-sends its reports
        self._seen_reports.add(report_id)
        self._touch("seen", report_id)
        self.tamper_reports_processed += 1
        key = (
            report_id
            if self.switches.enabled(SWITCH_TAMPER_DEDUPE)
            else f"{report_id}#{self.tamper_reports_processed}"
        )
        reason = str(report.get("reason", ""))
        self._reports[key] = {"device": device.device_id, "bundle": bundle_id, "reason": reason}
        self._touch("report", key)
        self.trust.report(device.device_id, report_id=key, subject=bundle_id, reason=reason)
        bundle = self.bundles.get(bundle_id)
        if bundle is not None:
            bundle.flagged = True
            self._touch("bundle", bundle_id)
            if self.switches.enabled(SWITCH_FRESH_DOWNLOAD):
                self._add_delta(device.device_id, Delta("bundle", bundle_id, {"fresh": True}))

    async def rebuild_flagged(self) -> int:
        """Rebuild flagged bundles whose stored object no longer matches its hash, from
        their source (a pure build: the same content under a fresh data key)."""
        if not self.switches.enabled(SWITCH_REBUILD):
            return 0
        rebuilt = 0
        for bundle in list(self.bundles.values()):
            if not bundle.flagged or bundle.status is not BundleStatus.READY:
                continue
            path = self.objects_root / bundle.object_key
            stored = path.read_bytes() if path.is_file() else b""
            if hashlib.sha256(stored).digest() != bundle.sha256:
                await self._build(bundle.request)
                self.rebuilt.append(bundle.request.bundle_id)
                rebuilt += 1
        return rebuilt

    def restore_device(self, device_id: str) -> None:
        """An operator reviewed a revoked device: trust it again, counting afresh."""
        self.trust.restore(device_id)
        for key in [k for k, r in self._reports.items() if r["device"] == device_id]:
            del self._reports[key]
            self._touch("report", key)

    # -- state ---------------------------------------------------------------------------
    def _touch(self, kind: str, key: str) -> None:
        self._dirty.add((kind, key))

    def _encode(self, kind: str, key: str) -> dict[str, Any] | None:
        if kind == "device":
            device = self.devices.get(key)
            return None if device is None else codec.device_data(device)
        if kind == "course":
            content = self.courses.get(key)
            return None if content is None else {"content": codec.b64(content)}
        if kind == "bundle":
            bundle = self.bundles.get(key)
            return None if bundle is None else codec.bundle_data(bundle)
        if kind == "job":
            job = self.jobs.get(key)
            return None if job is None else codec.job_data(job)
        if kind == "license":
            record = self.licenses.get(key)
            return None if record is None else codec.license_data(record, self._license_tokens[key])
        if kind == "delta":
            found = self._delta_index.get(key)
            return None if found is None else codec.delta_data(*found)
        if kind == "pending":
            device_id, _, bundle_id = key.partition("|")
            return {} if (device_id, bundle_id) in self.pending_revocations else None
        if kind == "seen":
            return {} if key in self._seen_reports else None
        if kind == "report":
            return self._reports.get(key)
        if kind == "version":
            version = self._versions.get(key)
            return None if version is None else {"v": version}
        raise ValueError(f"unknown state kind {kind!r}")

    async def flush(self) -> None:
        """Write what this use case changed, in one transaction."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        await self.state.save([(kind, key, self._encode(kind, key)) for kind, key in sorted(dirty)])

    async def restore(self) -> None:
        """Read the state back at start (after a restart nothing is lost)."""
        rows = await self.state.load()
        quiet = mitigate.DeviceTrust(
            threshold=self.tamper_threshold, window=self.tamper_window, clock=self.clock
        )
        last_seq = 0
        for kind, key, data in rows:
            if kind == "device":
                self.devices[key] = Device(
                    data["device_id"],
                    data["tenant"],
                    codec.unb64(data["public_key"]),
                    data["push_token"],
                    data["seq_seen"],
                )
                self.deltas.setdefault(key, [])
            elif kind == "course":
                self.courses[key] = codec.unb64(data["content"]) or b""
            elif kind == "bundle":
                self.bundles[key] = Bundle(**codec.bundle_fields(data))
            elif kind == "job":
                self.jobs[key] = Job(
                    data["job_id"],
                    codec.request_from(data["request"]),
                    data["state"],
                    data["reason"],
                    data["parked_at"],
                    data["runs"],
                )
            elif kind == "license":
                record, token = codec.license_from(data)
                self.licenses[key] = record
                self._license_tokens[key] = token
            elif kind == "delta":
                device_id, delta = codec.delta_from(data)
                self.deltas.setdefault(device_id, []).append(delta)
                self._delta_index[key] = (device_id, delta)
                last_seq = max(last_seq, delta.seq)
            elif kind == "pending":
                device_id, _, bundle_id = key.partition("|")
                self.pending_revocations.add((device_id, bundle_id))
            elif kind == "seen":
                self._seen_reports.add(key)
            elif kind == "report":
                self._reports[key] = data
                quiet.report(data["device"], report_id=key, subject=data["bundle"])
            elif kind == "version":
                self._versions[key] = int(data["v"])
        for deltas in self.deltas.values():
            deltas.sort(key=lambda d: d.seq)
        self._seq = itertools.count(last_seq + 1)
        quiet.observers = self.trust.observers  # replayed quietly; new reports alert again
        self.trust = quiet
        self._report_jobs()

    # -- keys ----------------------------------------------------------------------------
    def publish_next_key(self) -> str:
        kid = str(self.ring.publish_next())
        if self.switches.enabled(SWITCH_KEYS_VIA_SYNC):
            for device_id in self.devices:
                self._add_delta(device_id, Delta("keys", kid))
        return kid

    def activate_key(self, kid: str) -> None:
        try:
            self.ring.activate(kid)
        except mitigate.KeyRingError as err:
            raise _key_error(err) from None
        self.report_retiring()

    def retire_key(self, kid: str) -> None:
        try:
            self.ring.retire(kid)
        except mitigate.KeyRingError as err:
            raise _key_error(err) from None

    def report_retiring(self) -> int:
        soon = self.clock.wall() + 2 * 86_400
        retiring = {k for k, t in self.ring.scheduled_for_removal().items() if t <= soon}
        live = 0
        for bundle in self.bundles.values():
            if bundle.status is BundleStatus.READY and _kid_of(bundle.envelope) in retiring:
                live += 1
        self.report("content_bundles_on_retiring_kid", live)
        return live

    # -- downloads -----------------------------------------------------------------------
    def download_url(self, device_id: str, bundle_id: str, via: str = "cdn") -> dict[str, Any]:
        self.device(device_id)
        bundle = self.bundles.get(bundle_id)
        if bundle is None or bundle.status is not BundleStatus.READY:
            raise ContentError("CONTENT.BUNDLE.NOT_READY", f"bundle {bundle_id}: not ready", 409)
        if bundle.request.device_id != device_id:
            raise ContentError("CONTENT.BUNDLE.FORBIDDEN", "bundle belongs to another device", 403)
        record = self.licenses[bundle.license_id]
        if record.revoked:
            raise ContentError("CONTENT.LICENSE.REVOKED", "licence revoked", 403)
        path = self.url_signer.sign(f"/objects/{bundle.object_key}", bundle.sha256)
        base = self.ports.cdn_base if via == "cdn" else self.ports.origin_base
        if via != "cdn":
            self.origin_urls += 1
            self.report("content_origin_urls", self.origin_urls)
        self.mark_fetched(bundle.license_id)
        return {"url": base + path, "sha256": _b64(bundle.sha256), "via": via}

    async def cdn_integrity_failure(self, device_id: str, bundle_id: str) -> dict[str, Any]:
        """A client's SHA-256 check of a CDN copy failed: purge it, answer with origin."""
        self.device(device_id)
        bundle = self.owned_bundle(device_id, bundle_id)
        self._observers.emit(
            mitigate.TamperDetected(
                target="cdn.get",
                at=self.clock.now(),
                subject=bundle_id,
                reason="digest mismatch",
                device=device_id,
            )
        )
        if self.ports.cdn is not None and self.switches.enabled(SWITCH_CDN_PURGE):
            await self.ports.cdn.post("/purge", json={"key": bundle.object_key})
        return self.download_url(device_id, bundle_id, via="origin")

    # -- assistant -----------------------------------------------------------------------
    async def assistant_config(self, course_id: str) -> dict[str, Any]:
        config: dict[str, Any] = await self.policy("assistant.config").acall(
            self.ports.ai.generate, course_id
        )
        return {**config, "default": not config.get("generated", False)}


def tamper_settings(catalog: Any) -> tuple[int, float]:
    """The repeat threshold and window fm.1.3 sets in the catalog (the seed gives none)."""
    details = catalog.failure_mode("content.fm.1.3").details
    return int(details["tamper repeat threshold"]), mitigate.parse_duration(
        details["tamper repeat window"]
    )


def _key_error(err: mitigate.KeyRingError) -> ContentError:
    status = 404 if err.code.endswith("UNKNOWN_KID") else 409
    return ContentError(err.code, str(err), status)


def _replace(record: LicenseRecord, **changes: Any) -> LicenseRecord:
    from dataclasses import replace

    return replace(record, **changes)


def _license_message(state: LicenseState) -> str:
    return {
        LicenseState.READY: "ready to download",
        LicenseState.ACTIVE: "playable offline until expiresAt",
        LicenseState.REVOKED: "licence revoked",
        LicenseState.EXPIRED: "expired, connect to renew",
    }[state]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _kid_of(token: str) -> str:
    header = token.split(".", 1)[0]
    padded = header + "=" * (-len(header) % 4)
    import json

    return str(json.loads(base64.urlsafe_b64decode(padded)).get("kid", ""))


def _reason(err: BaseException) -> str:
    code = getattr(err, "code", type(err).__name__)
    notes = " ".join(str(n) for n in getattr(err, "__notes__", ()))
    return f"{code} {notes}".strip()
