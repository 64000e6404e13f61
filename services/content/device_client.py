"""A simulated learner device: its own local bundle store, key cache, offline/online
switch and a queue of tamper reports for the next sync. It talks to the content service
over HTTP like the real app, so experiments drive the service as a device would."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import mitigate
from mitigate.integrity import adownload

from .adapters.push import FakePushProvider
from .domain import sealing


class DeviceOfflineError(ConnectionError):
    """The simulated device has no network."""


class PlaybackRefusedError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code


@dataclass(slots=True)
class LocalBundle:
    bundle_id: str
    content: bytes  # the sealed bundle object as downloaded
    envelope: str
    sealed_key: bytes
    license: str
    license_id: str


class SimulatedDevice:
    def __init__(
        self,
        device_id: str,
        tenant: str,
        *,
        client: httpx.AsyncClient,
        clock: mitigate.Clock,
        push: FakePushProvider,
        folder: Path,
        policy: Any,
        with_key: bool = True,
    ) -> None:
        self.device_id = device_id
        self.tenant = tenant
        self.client = client
        self.clock = clock
        self.push = push
        self.folder = folder
        self.policy = policy
        self.private = X25519PrivateKey.generate()
        self.with_key = with_key
        self.online = True
        self.store: dict[str, LocalBundle] = {}
        self.cursor = 0
        self.pending_reports: list[dict[str, Any]] = []
        self.plays = 0
        self.played_corrupt = 0
        self.push_syncs = 0
        self.renewals = 0
        self.last_sync: list[dict[str, Any]] = []
        self.keys = mitigate.KeyCache(afetch=self._fetch_keys, clock=clock, max_age=30 * 86_400)
        self.folder.mkdir(parents=True, exist_ok=True)

    # -- network -------------------------------------------------------------------------
    def _need_network(self) -> None:
        if not self.online:
            raise DeviceOfflineError(f"device {self.device_id} is offline")

    async def _fetch_keys(self) -> bytes:
        self._need_network()
        response = await self.client.get("/.well-known/content-keys.json")  # no tenant needed
        response.raise_for_status()
        return response.content

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self._need_network()
        headers = {"x-tenant-id": self.tenant, **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)

    def go_offline(self) -> None:
        self.online = False
        self.push.disconnect(self.device_id)

    async def go_online(self) -> None:
        """Reconnect: the push provider hands over what waited; a push forces a sync."""
        self.online = True
        asked: list[dict[str, Any]] = []
        self.push.connect(self.device_id, asked.append)
        if any(m.get("data", {}).get("action") == "sync" for m in asked):
            self.push_syncs += 1
            await self.sync()

    # -- lifecycle -----------------------------------------------------------------------
    async def register(self) -> httpx.Response:
        key = sealing.public_bytes(self.private.public_key()) if self.with_key else None
        response = await self.call(
            "POST",
            "/v1/devices",
            json={
                "device_id": self.device_id,
                "tenant": self.tenant,
                "public_key": base64.b64encode(key).decode() if key else None,
                "push_token": self.device_id,
            },
        )
        await self.keys.arefresh()
        return response

    async def request_bundle(self, course_id: str) -> httpx.Response:
        return await self.call(
            "POST", f"/v1/devices/{self.device_id}/bundles", json={"course_id": course_id}
        )

    async def status(self, bundle_id: str) -> dict[str, Any]:
        response = await self.call("GET", f"/v1/devices/{self.device_id}/bundles/{bundle_id}")
        return body_of(response)

    async def download(self, bundle_id: str) -> LocalBundle:
        """Fetch the bundle through the CDN (policy ``cdn.get``; its fallback goes to the
        origin) and keep it in the local store."""
        meta = await self.status(bundle_id)
        if meta.get("status") != "ready":
            raise PlaybackRefusedError("CONTENT.BUNDLE.NOT_READY", str(meta.get("message")))
        try:
            content: bytes = await self.policy("cdn.get").acall(cdn_download, self, bundle_id)
        except mitigate.IntegrityError as err:
            self._report(bundle_id, err.code, b"")
            raise PlaybackRefusedError(err.code, "download failed its check") from None
        bundle = LocalBundle(
            bundle_id,
            content,
            meta["envelope"],
            base64.b64decode(meta["sealedKey"]),
            meta["license"],
            meta["licenseId"],
        )
        self.store[bundle_id] = bundle
        return bundle

    async def fetch(self, bundle_id: str, via: str) -> bytes:
        """One resumable download of a signed URL; a 403 renews the URL (``url.renew``)."""
        url_path = f"/v1/devices/{self.device_id}/bundles/{bundle_id}/url"

        async def fresh_url() -> str:
            response = await self.call("POST", url_path, json={"via": via})
            if response.status_code != 200:
                raise PlaybackRefusedError(response.json().get("code", "?"), response.text)
            return str(response.json()["url"])

        async def renew() -> str:
            self.renewals += 1
            url: str = await self.policy("url.renew").acall(fresh_url)
            return url

        url = await fresh_url()
        self._need_network()
        dest = self.folder / f"{bundle_id.replace('@', '_')}.{via}.{uuid.uuid4().hex[:6]}"
        result = await adownload(url, dest, client=self.client, renew=renew, clock=self.clock)
        self.last_download = result
        data = dest.read_bytes()
        dest.unlink()
        return data

    # -- playback ------------------------------------------------------------------------
    async def play(self, bundle_id: str) -> bytes:
        """Mount and play: licence, envelope (signature, kid window, SHA-256), decryption.
        A copy that fails its check is unmounted and reported on the next sync."""
        bundle = self.store.get(bundle_id)
        if bundle is None:
            raise PlaybackRefusedError("DEVICE.NOT_DOWNLOADED", "download the bundle first")
        now = self.clock.wall()
        try:
            mitigate.verify_license(bundle.license, self.keys, now=now, device=self.device_id)
        except mitigate.IntegrityError as err:
            message = "expired, connect to renew" if err.code.endswith("EXPIRED") else str(err)
            raise PlaybackRefusedError(err.code, message) from None
        try:
            mitigate.verify_bundle(bundle.envelope, bundle.content, self.keys, now=now)
            data_key = sealing.open_on_device(bundle.sealed_key, self.private, bundle_id.encode())
            plaintext = sealing.decrypt(data_key, bundle.content, bundle_id.encode())
        except (mitigate.IntegrityError, InvalidTag) as err:
            code = getattr(err, "code", "MITIGATE.INTEGRITY.DIGEST_MISMATCH")
            if code.endswith(("DIGEST_MISMATCH", "SIGNATURE_INVALID", "MALFORMED")) or isinstance(
                err, InvalidTag
            ):
                del self.store[bundle_id]  # unmount before any byte is played
                self._report(bundle_id, code, bundle.content)
            raise PlaybackRefusedError(code, "bundle failed its check") from None
        self.plays += 1
        return plaintext

    def _report(self, bundle_id: str, code: str, content: bytes) -> None:
        """Queue content.bundle.tamper_detected.v1 for the next sync (its id makes a
        re-send idempotent)."""
        self.pending_reports.append(
            {
                "type": "content.bundle.tamper_detected.v1",
                "reportId": uuid.uuid4().hex,
                "bundleId": bundle_id,
                "reason": code,
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        )

    async def try_play(self, bundle_id: str) -> str:
        """Play and say how it went: "ok", or the refusal's code."""
        try:
            await self.play(bundle_id)
        except PlaybackRefusedError as err:
            return err.code
        return "ok"

    async def sync(self) -> list[dict[str, Any]]:
        """Send queued tamper reports, apply deltas in the order given. Reports stay queued
        until the server answered (a lost answer means they are sent again)."""
        reports = list(self.pending_reports)
        response = await self.call(
            "POST",
            f"/v1/devices/{self.device_id}/sync",
            json={"cursor": self.cursor, "tamper_reports": reports},
        )
        if response.status_code != 200:
            raise PlaybackRefusedError(response.json().get("code", "?"), response.text)
        body = response.json()
        self.pending_reports = [r for r in self.pending_reports if r not in reports]
        self.cursor = body["cursor"]
        self.last_sync = body["deltas"]
        for delta in body["deltas"]:
            if delta["kind"] == "revocation":
                self.store.pop(delta["id"], None)
            elif delta["kind"] == "keys":
                await self.keys.arefresh()
        return list(body["deltas"])


def body_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON body, or what the device makes of a response that is not JSON (a bare
    500 from a broken server)."""
    try:
        body = response.json()
    except ValueError:
        return {"status": "error", "httpStatus": response.status_code, "text": response.text}
    return body if isinstance(body, dict) else {"status": "error", "body": body}


async def cdn_download(device: SimulatedDevice, bundle_id: str) -> bytes:
    """The primary path: the CDN copy. The downloader checks SHA-256 against the URL's
    hash; on a mismatch the device tells the service (which purges the CDN entry)."""
    try:
        return await device.fetch(bundle_id, "cdn")
    except mitigate.IntegrityError as err:
        if not err.code.endswith("DIGEST_MISMATCH"):
            raise
        await device.call(
            "POST", f"/v1/devices/{device.device_id}/bundles/{bundle_id}/cdn-integrity"
        )
        raise


async def origin_download(device: SimulatedDevice, bundle_id: str) -> bytes:
    """content.fallback.3: a signed URL straight to the origin."""
    return await device.fetch(bundle_id, "origin")
