"""The key document and the client cache that re-fetches once on an unknown kid."""

from __future__ import annotations

import json

import pytest

from mitigate.clock import VirtualClock
from mitigate.integrity import errors as codes
from mitigate.integrity.errors import IntegrityError
from mitigate.integrity.keyring import KeyRing
from mitigate.integrity.keyset import KeyCache, KeySet


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[]",
        b'{"typ": "other", "keys": []}',
        b'{"typ": "mitigate.keys.v1", "keys": {}}',
        b'{"typ": "mitigate.keys.v1", "keys": [{"kty": "RSA"}]}',
        b'{"typ": "mitigate.keys.v1", "keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA",'
        b' "kid": "k", "nbf": 0}]}',
        b"{" * 100_000,
    ],
)
def test_malformed_documents_are_refused(document: bytes) -> None:
    with pytest.raises(IntegrityError) as info:
        KeySet.from_document(document)
    assert info.value.code == codes.MALFORMED


def test_a_kid_that_is_not_the_thumbprint_is_refused(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    doc = ring.document()
    doc["keys"][0]["kid"] = "forged-kid"
    with pytest.raises(IntegrityError):
        KeySet.from_document(json.dumps(doc))


class _Origin:
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self.calls = 0
        self.down = False

    def __call__(self) -> bytes:
        self.calls += 1
        if self.down:
            raise ConnectionError("key endpoint down")
        return self.ring.document_bytes()


def test_unknown_kid_triggers_exactly_one_refetch(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    origin = _Origin(ring)
    cache = KeyCache(origin, clock=virtual_clock)
    cache.key(ring.active_kid)
    assert origin.calls == 1
    new = ring.rotate()
    assert cache.key(new).kid == new
    assert origin.calls == 2
    cache.key(new)  # known now: no fetch
    assert origin.calls == 2


def test_a_kid_still_unknown_after_the_refetch_fails(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    origin = _Origin(ring)
    cache = KeyCache(origin, clock=virtual_clock, min_refetch=10)
    cache.key(ring.active_kid)
    with pytest.raises(IntegrityError) as info:
        cache.key("forged")
    assert info.value.code == codes.UNKNOWN_KID
    assert origin.calls == 2
    # A flood of forged kids inside min_refetch costs no further fetches.
    for i in range(50):
        with pytest.raises(IntegrityError):
            cache.key(f"forged-{i}")
    assert origin.calls == 2
    virtual_clock.advance(10)
    with pytest.raises(IntegrityError):
        cache.key("forged-again")
    assert origin.calls == 3


def test_document_is_refreshed_after_max_age(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    origin = _Origin(ring)
    cache = KeyCache(origin, clock=virtual_clock, max_age=300)
    cache.key(ring.active_kid)
    virtual_clock.advance(299)
    cache.key(ring.active_kid)
    assert origin.calls == 1
    virtual_clock.advance(1)
    cache.key(ring.active_kid)
    assert origin.calls == 2


def test_a_failed_refresh_keeps_the_copy_it_has(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    origin = _Origin(ring)
    cache = KeyCache(origin, clock=virtual_clock, max_age=300, min_refetch=10)
    kid = ring.active_kid
    cache.key(kid)
    origin.down = True
    virtual_clock.advance(400)
    assert cache.key(kid).kid == kid
    calls = origin.calls
    cache.key(kid)  # the failure is throttled for min_refetch, not retried per lookup
    assert origin.calls == calls


def test_first_fetch_failure_propagates(virtual_clock: VirtualClock) -> None:
    origin = _Origin(KeyRing.generate(clock=virtual_clock))
    origin.down = True
    cache = KeyCache(origin, clock=virtual_clock)
    with pytest.raises(ConnectionError):
        cache.key("any")


async def test_async_cache_refetches_once(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    calls = 0

    async def afetch() -> bytes:
        nonlocal calls
        calls += 1
        return ring.document_bytes()

    cache = KeyCache(afetch=afetch, clock=virtual_clock)
    await cache.akey(ring.active_kid)
    new = ring.rotate()
    assert (await cache.akey(new)).kid == new
    assert calls == 2
