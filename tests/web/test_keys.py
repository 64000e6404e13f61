"""The well-known key document route and a device's cache of it (content.fm.1.6)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from mitigate.clock import VirtualClock
from mitigate.integrity.envelope import EnvelopeSigner
from mitigate.integrity.keyring import KeyRing
from mitigate.integrity.keyset import KeyCache, KeySet
from mitigate.integrity.verifier import BundleVerifier
from mitigate.web.keys import WELL_KNOWN_PATH, async_http_fetcher, key_document_route

DAY = 86_400.0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(autojump=False)


@pytest.fixture
def ring(clock: VirtualClock) -> KeyRing:
    return KeyRing.generate(clock=clock)


class _Counting(httpx.AsyncBaseTransport):
    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return await self.inner.handle_async_request(request)


@pytest.fixture
def transport(ring: KeyRing) -> _Counting:
    return _Counting(Starlette(routes=[key_document_route(ring, max_age=120)]))


async def test_document_lists_kid_key_and_window(ring, clock, transport) -> None:
    async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        r = await client.get(WELL_KNOWN_PATH)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=120"
    doc = r.json()
    [key] = doc["keys"]
    assert key["kid"] == ring.active_kid
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert key["nbf"] == clock.wall() and "exp" not in key
    assert KeySet.from_document(r.content).kids() == [ring.active_kid]


async def test_etag_and_304(ring, transport) -> None:
    async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        first = await client.get(WELL_KNOWN_PATH)
        etag = first.headers["etag"]
        again = await client.get(WELL_KNOWN_PATH, headers={"if-none-match": etag})
        assert again.status_code == 304 and again.content == b""
        ring.rotate()
        changed = await client.get(WELL_KNOWN_PATH, headers={"if-none-match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        head = await client.head(WELL_KNOWN_PATH)
        assert head.status_code == 200 and head.content == b""


async def test_during_the_overlap_both_kids_are_listed(ring, clock, transport) -> None:
    old = ring.active_kid
    new = ring.rotate()
    async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        doc = (await client.get(WELL_KNOWN_PATH)).json()
    windows = {k["kid"]: (k["nbf"], k.get("exp")) for k in doc["keys"]}
    assert windows[old][1] == clock.wall() + 2 * DAY
    assert windows[new] == (clock.wall(), None)


async def test_device_cache_refetches_once_for_a_new_kid(ring, clock, transport) -> None:
    signer = EnvelopeSigner(ring)
    async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
        cache = KeyCache(afetch=async_http_fetcher(client, WELL_KNOWN_PATH), clock=clock)
        await cache.arefresh()
        assert transport.calls == 1
        new = ring.rotate()
        bundle = signer.sign_bundle("course", b"bytes", version=1)
        assert bundle.kid == new
        device = BundleVerifier(cache, clock=clock)
        assert (await device.aaccept("course", bundle.token, b"bytes")).ok
        assert transport.calls == 2  # unknown locally: exactly one re-fetch
        assert (await device.amount("course")).ok
        assert transport.calls == 2
        forged = EnvelopeSigner(KeyRing.generate(clock=clock)).sign_bundle("x", b"y", version=1)
        verdict = await device.aaccept("x", forged.token, b"y")
        assert verdict.error is not None and verdict.error.code == "MITIGATE.INTEGRITY.UNKNOWN_KID"
