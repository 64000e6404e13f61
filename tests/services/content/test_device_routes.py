"""The device side through its HTTP API (in process, on a VirtualClock): registration,
bundles, licences, sync, tamper reports, keys, downloads, assistant config; bad input
gets a clear error and changes nothing."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from services.content.device_client import SimulatedDevice
from services.content.testbed import Testbed

import mitigate

DAY = 86_400.0


@pytest.fixture
async def bed() -> AsyncIterator[Testbed]:
    testbed = Testbed.standalone(mitigate.VirtualClock())
    await testbed.add_course("c1", b"lesson one " * 100)
    yield testbed
    await testbed.close()


async def ready_device(bed: Testbed, name: str = "tab") -> SimulatedDevice:
    device = bed.device(name)
    assert (await device.register()).status_code == 201
    assert (await device.request_bundle("c1")).status_code == 200
    await device.download(f"c1@{name}")
    return device


@pytest.mark.parametrize(
    "body",
    [
        {"device_id": "", "tenant": "acme"},
        {"device_id": "d", "tenant": "acme", "public_key": "not base64!"},
        {"device_id": "d", "tenant": "acme", "public_key": base64.b64encode(b"short").decode()},
    ],
)
async def test_bad_registration_is_refused_and_stores_nothing(bed: Testbed, body: dict) -> None:
    response = await bed.http.post("/v1/devices", json=body)
    assert response.status_code in (400, 422)
    assert bed.side.devices == {}


async def test_unknown_device_gets_404_with_a_code(bed: Testbed) -> None:
    response = await bed.http.post("/v1/devices/ghost/bundles", json={"course_id": "c1"})
    assert response.status_code == 404
    assert response.json()["code"] == "CONTENT.DEVICE.UNKNOWN"
    response = await bed.http.post("/v1/devices/ghost/sync", json={"cursor": 0})
    assert response.status_code == 404


async def test_bundle_plays_and_licence_moves_ready_active_revoked(bed: Testbed) -> None:
    device = bed.device("tab")
    await device.register()
    await device.request_bundle("c1")
    license_id = bed.side.bundles["c1@tab"].license_id
    status = (await bed.http.get(f"/v1/licenses/{license_id}/status")).json()
    assert status["status"] == "ready"
    await device.download("c1@tab")
    assert await device.play("c1@tab") == b"lesson one " * 100
    status = (await bed.http.get(f"/v1/licenses/{license_id}/status")).json()
    assert status["status"] == "active"
    assert status["expiresAt"] - bed.clock.wall() == pytest.approx(30 * DAY, abs=1)
    assert (await bed.http.post("/ops/bundles/c1@tab/revoke")).status_code == 200
    status = (await bed.http.get(f"/v1/licenses/{license_id}/status")).json()
    assert (status["status"], status["message"]) == ("revoked", "licence revoked")
    refused = await device.call("POST", "/v1/devices/tab/bundles/c1@tab/url", json={})
    assert refused.status_code == 403


async def test_unknown_licence_and_bundle(bed: Testbed) -> None:
    assert (await bed.http.get("/v1/licenses/nope/status")).status_code == 404
    assert (await bed.http.post("/ops/bundles/nope/revoke")).status_code == 404


async def test_licence_expires_and_a_forged_one_is_refused(bed: Testbed) -> None:
    device = await ready_device(bed)
    header, payload, signature = device.store["c1@tab"].license.split(".")
    forged = mitigate.KeyRing.generate(clock=bed.clock)
    other = mitigate.EnvelopeSigner(forged).issue_license("c1@tab", "tab", lifetime=365 * DAY)
    device.store["c1@tab"].license = other.token
    assert (await device.try_play("c1@tab")).startswith("MITIGATE.INTEGRITY.")
    device.store["c1@tab"].license = f"{header}.{payload}.{signature}"
    bed.clock.advance(30 * DAY + 1)
    assert (await device.try_play("c1@tab")) == "MITIGATE.INTEGRITY.EXPIRED"


async def test_sync_lists_revocations_first_and_dedupes_tamper_reports(bed: Testbed) -> None:
    device = await ready_device(bed)
    await bed.add_course("c2", b"two")
    await bed.http.post("/v1/devices/tab/bundles", json={"course_id": "c2"})
    await bed.http.post("/ops/bundles/c1@tab/revoke")
    deltas = await device.sync()
    assert deltas[0]["kind"] == "revocation"
    assert "c1@tab" not in device.store
    report = {"reportId": "r-1", "bundleId": "c2@tab", "reason": "digest"}
    for _ in range(2):
        response = await device.call(
            "POST", "/v1/devices/tab/sync", json={"cursor": 0, "tamper_reports": [report]}
        )
        assert response.status_code == 200
    assert bed.side.trust.tampers("tab") == 1
    bad = await device.call(
        "POST", "/v1/devices/tab/sync", json={"cursor": 0, "tamper_reports": [{"x": 1}]}
    )
    assert bad.status_code == 400 and bad.json()["code"] == "CONTENT.TAMPER.INVALID"


async def test_key_document_lists_kids_and_retirement_inside_overlap_is_409(bed: Testbed) -> None:
    old = bed.ring.active_kid
    new = (await bed.http.post("/ops/keys/next")).json()["kid"]
    assert (await bed.http.post(f"/ops/keys/{new}/activate")).status_code == 200
    doc = (await bed.http.get("/.well-known/content-keys.json")).json()
    assert {old, new} <= {k["kid"] for k in doc["keys"]}
    refused = await bed.http.post(f"/ops/keys/{old}/retire")
    assert refused.status_code == 409 and refused.json()["code"] == "MITIGATE.KEYRING.OVERLAP"


async def test_expired_and_forged_urls_are_refused_at_the_cdn(bed: Testbed) -> None:
    device = await ready_device(bed)
    url = (await device.call("POST", "/v1/devices/tab/bundles/c1@tab/url", json={})).json()["url"]
    client = bed.client("cdn.test")
    forged = url.replace("sig=", "sig=A")
    assert (await client.get(forged.removeprefix("http://cdn.test"))).status_code == 403
    bed.clock.advance(601)
    expired = await client.get(url.removeprefix("http://cdn.test"))
    assert expired.status_code == 403 and expired.json()["code"] == "MITIGATE.URL.EXPIRED"
    await client.aclose()


async def test_assistant_config_generated_then_default_when_gateway_fails(bed: Testbed) -> None:
    generated = (await bed.http.get("/v1/courses/c1/assistant-config")).json()
    assert generated["default"] is False and generated["assistant"] == "tutor-c1"
    bed.ai.status = 500
    fallback = await bed.http.get("/v1/courses/c1/assistant-config")
    assert fallback.status_code == 200 and fallback.json()["default"] is True


async def test_keyless_device_is_queued_then_dead_lettered_with_a_reason(bed: Testbed) -> None:
    device = bed.device("old-app", with_key=False)
    await device.register()
    response = await device.request_bundle("c1")
    assert response.status_code == 202 and response.json()["status"] == "preparing"
    await bed.side.work_once()
    view = await device.status("c1@old-app")
    assert view["status"] == "failed" and "KEY_MISSING" in view["reason"]
    assert bed.side.job_counts()["dead"] == 1
