"""The device side inside the assembled content service (the app `mitigate serve content`
runs): its routes are served beside the publish routes, the origin serves bundle objects
behind signed URLs with Range resume, and a device registers, gets a bundle and plays it."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
from services.content.device_client import SimulatedDevice
from services.content.service import open_content
from services.content.settings import ContentSettings
from services.content.workers import running
from services.kit.runtime import Runtime

import mitigate


async def test_the_service_serves_the_device_side(tmp_path: Path) -> None:
    clock = mitigate.VirtualClock()
    settings = ContentSettings(data_dir=tmp_path, builder="inline")
    runtime = await Runtime.open(settings.resolved(), clock=clock)
    content = await open_content(settings, runtime=runtime)
    try:
        transport = httpx.ASGITransport(app=content.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
            keys = await http.get("/.well-known/content-keys.json")
            assert keys.status_code == 200
            assert content.runtime.keyring.active_kid in keys.text
            source = await http.put(
                "/ops/courses/c1/offline-source",
                content=b"offline lesson " * 500,
                headers=OPS,
            )
            assert source.status_code == 204
            device = SimulatedDevice(
                "tab",
                "acme",
                client=http,
                clock=clock,
                push=content.devices.fakes[0],
                folder=tmp_path / "device",
                policy=lambda name: _direct,
            )
            assert (await device.register()).status_code == 201
            assert (await device.request_bundle("c1")).status_code == 200
            url = (
                await device.call(
                    "POST", "/v1/devices/tab/bundles/c1@tab/url", json={"via": "origin"}
                )
            ).json()["url"]
            partial = await http.get(url, headers={"range": "bytes=10-19"})
            assert partial.status_code == 206
            assert partial.headers["content-range"].startswith("bytes 10-19/")
            await device.download("c1@tab")
            assert await device.play("c1@tab") == b"offline lesson " * 500
    finally:
        await content.aclose()


class _Direct:
    """No policy: call straight through (the service's policies are tested elsewhere)."""

    async def acall(self, fn, *args):  # type: ignore[no-untyped-def]
        return await fn(*args)


_direct = _Direct()


async def test_device_state_survives_a_restart(tmp_path: Path) -> None:
    """Registrations, bundles, licences, revocations not yet synced, queued jobs and tamper
    counts are in the service's own tables: a restarted service still has them."""
    clock = mitigate.VirtualClock()
    settings = ContentSettings(data_dir=tmp_path, builder="inline")
    tenant = {"x-tenant-id": "acme"}

    async def started():  # type: ignore[no-untyped-def]
        runtime = await Runtime.open(settings.resolved(), clock=clock)
        return await open_content(settings, runtime=runtime)

    content = await started()
    transport = httpx.ASGITransport(app=content.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
        await http.put("/ops/courses/c1/offline-source", content=b"lesson", headers=OPS)
        device = SimulatedDevice(
            "tab",
            "acme",
            client=http,
            clock=clock,
            push=content.devices.fakes[0],
            folder=tmp_path / "device",
            policy=lambda name: _direct,
        )
        await device.register()
        await device.request_bundle("c1")
        license_id = content.devices.bundles["c1@tab"].license_id
        keyless = SimulatedDevice(
            "old",
            "acme",
            client=http,
            clock=clock,
            push=content.devices.fakes[0],
            folder=tmp_path / "old",
            policy=lambda name: _direct,
            with_key=False,
        )
        await keyless.register()
        assert (await keyless.request_bundle("c1")).status_code == 202
        await http.post("/ops/bundles/c1@tab/revoke", headers=OPS)
        report = {"reportId": "r1", "bundleId": "c1@tab", "reason": "digest"}
        await device.call(
            "POST", "/v1/devices/tab/sync", json={"cursor": 99, "tamper_reports": [report]}
        )
    await content.aclose()

    content = await started()
    try:
        side = content.devices
        assert "tab" in side.devices and "old" in side.devices
        assert side.license_status(license_id)["status"] == "revoked"
        assert side.jobs["bundle:c1@old"].state == "queued"  # survives the restart
        assert side.trust.tampers("tab") == 1
        transport = httpx.ASGITransport(app=content.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
            again = await http.post(
                "/v1/devices/tab/sync",
                json={"cursor": 0, "tamper_reports": [report]},
                headers=tenant,
            )
            assert again.status_code == 200
            assert again.json()["deltas"][0]["kind"] == "revocation"
        assert side.trust.tampers("tab") == 1  # the re-sent report is still a duplicate
    finally:
        await content.aclose()


async def test_the_service_bundle_worker_runs_queued_jobs(tmp_path: Path) -> None:
    """A bundle request that could not be built at once is queued and the service's own
    bundle worker takes it: here a device without a key, dead-lettered with its reason."""
    clock = mitigate.VirtualClock()
    settings = ContentSettings(data_dir=tmp_path, builder="inline")
    runtime = await Runtime.open(settings.resolved(), clock=clock)
    content = await open_content(settings, runtime=runtime)
    tenant = {"x-tenant-id": "acme"}
    try:
        transport = httpx.ASGITransport(app=content.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
            await http.put("/ops/courses/c1/offline-source", content=b"lesson", headers=OPS)
            body = {"device_id": "old", "tenant": "acme"}
            assert (await http.post("/v1/devices", json=body, headers=tenant)).status_code == 201
            queued = await http.post(
                "/v1/devices/old/bundles", json={"course_id": "c1"}, headers=tenant
            )
            assert queued.status_code == 202
            async with running(content) as loops:
                assert "bundles" in loops
                for _ in range(20):
                    if content.devices.jobs["bundle:c1@old"].state == "dead":
                        break
                    await clock.asleep(1)
            view = (await http.get("/v1/devices/old/bundles/c1@old", headers=tenant)).json()
        assert view["status"] == "failed" and "KEY_MISSING" in view["reason"]
    finally:
        await content.aclose()


async def test_devices_are_scoped_to_their_tenant(tmp_path: Path) -> None:
    """Another tenant cannot see, sync, download or revoke a device's bundles; a device id
    cannot be registered twice across tenants; unknown ids stay 404."""
    clock = mitigate.VirtualClock()
    settings = ContentSettings(data_dir=tmp_path, builder="inline")
    runtime = await Runtime.open(settings.resolved(), clock=clock)
    content = await open_content(settings, runtime=runtime)
    acme, globex = {"x-tenant-id": "acme"}, {"x-tenant-id": "globex"}
    try:
        transport = httpx.ASGITransport(app=content.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
            await http.put("/ops/courses/c1/offline-source", content=b"lesson", headers=OPS)
            body = {"device_id": "tab", "tenant": "acme", "public_key": _KEY}
            assert (await http.post("/v1/devices", json=body, headers=acme)).status_code == 201
            posed = await http.post("/v1/devices", json=body, headers=globex)
            assert posed.status_code == 400
            assert posed.json()["code"] == "CONTENT.DEVICE.TENANT_MISMATCH"
            taken = {"device_id": "tab", "tenant": "globex"}
            assert (await http.post("/v1/devices", json=taken, headers=globex)).status_code == 409
            ok = await http.post("/v1/devices/tab/bundles", json={"course_id": "c1"}, headers=acme)
            assert ok.status_code == 200
            license_id = ok.json()["licenseId"]
            for method, path, json_body in [
                ("GET", "/v1/devices/tab/bundles/c1@tab", None),
                ("POST", "/v1/devices/tab/sync", {"cursor": 0}),
                ("POST", "/v1/devices/tab/bundles/c1@tab/url", {}),
                ("GET", f"/v1/licenses/{license_id}/status", None),
            ]:
                other = await http.request(method, path, json=json_body, headers=globex)
                assert other.status_code == 404, (path, other.text)
            no_token = await http.post("/ops/bundles/c1@tab/revoke", headers=globex)
            assert no_token.status_code == 403
            assert no_token.json()["code"] == "CONTENT.OPS.FORBIDDEN"
            status = await http.get(f"/v1/licenses/{license_id}/status", headers=acme)
            assert status.json()["status"] != "revoked"  # the other tenant changed nothing
    finally:
        await content.aclose()


OPS = {"x-ops-token": "local-operator"}
_KEY = base64.b64encode(bytes(range(32))).decode()
