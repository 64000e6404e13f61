"""Acceptance: key rotation across the overlap window, in virtual time (content.fm.1.6).

A device keeps a cached key document and last-known-good bundles. The signing key rotates
at t0. Inside the 2-day overlap both old and new bundles verify on the device; retiring
the old key at t0 + 1 day is refused; after the window the old bundle fails with
KEY_EXPIRED, a clear reason that says to fetch a fresh copy.
"""

from __future__ import annotations

import pytest

from mitigate.clock import VirtualClock
from mitigate.integrity import errors as codes
from mitigate.integrity.envelope import EnvelopeSigner, verify_bundle
from mitigate.integrity.errors import IntegrityError, KeyRingError
from mitigate.integrity.keyring import KeyRing
from mitigate.integrity.keyset import KeyCache
from mitigate.integrity.verifier import BundleVerifier
from mitigate.observe.events import TamperDetected
from mitigate.observe.observers import Recorder

DAY = 86_400.0


def test_old_bundles_verify_inside_the_overlap_and_fail_after_it() -> None:
    clock = VirtualClock()
    ring = KeyRing.generate(clock=clock)
    signer = EnvelopeSigner(ring)
    recorder = Recorder()
    fetches: list[float] = []

    def fetch() -> bytes:
        fetches.append(clock.now())
        return ring.document_bytes()

    cache = KeyCache(fetch, clock=clock, max_age=DAY)
    device = BundleVerifier(cache, clock=clock, device="tablet-1", observers=[recorder])

    clock.advance(DAY)  # t0 - 1 day: the device syncs
    old = signer.sign_bundle("course-old", b"old bytes", version=1)
    assert device.accept("course-old", old.token, b"old bytes").ok

    clock.advance(DAY)  # t0: rotate (the new key is published before it signs)
    old_kid = ring.active_kid
    new_kid = ring.rotate()
    assert {old_kid, new_kid} <= set(ring.keyset().kids())
    new = signer.sign_bundle("course-new", b"new bytes", version=1)
    assert new.kid == new_kid
    assert device.accept("course-new", new.token, b"new bytes").ok  # unknown kid: one re-fetch

    clock.advance(DAY)  # t0 + 1 day: retiring the old kid is refused
    with pytest.raises(KeyRingError) as refused:
        ring.retire(old_kid)
    assert refused.value.code == codes.RETIRE_IN_OVERLAP
    assert device.mount("course-old").ok
    assert device.mount("course-new").ok

    clock.advance(DAY - 1)  # one second before the window ends: still fine
    assert device.mount("course-old").ok

    clock.advance(2)  # after the window
    verdict = device.mount("course-old")
    assert not verdict.ok and verdict.refetch
    assert verdict.error is not None and verdict.error.code == codes.KEY_EXPIRED
    assert "expired at" in str(verdict.error) and "fetch a fresh copy" in str(verdict.error)
    assert device.mount("course-new").ok
    # Key expiry is not tampering: no tamper event for it.
    assert recorder.of(TamperDetected) == []

    ring.retire(old_kid)  # allowed now
    assert old_kid not in ring.keyset()


def test_every_bundle_signed_by_an_active_key_verifies_across_many_rotations() -> None:
    clock = VirtualClock()
    ring = KeyRing.generate(clock=clock)
    signer = EnvelopeSigner(ring)
    live = []
    for day in range(10):
        live.append((signer.sign_bundle(f"b{day}", f"c{day}".encode(), version=day), day))
        clock.advance(DAY)
        ring.rotate()
        for env, signed_day in live:
            content = f"c{signed_day}".encode()
            key = ring.keyset().key(env.kid)
            if key.not_after is None or clock.wall() <= key.not_after:
                verify_bundle(env.token, content, ring, now=clock.wall())
            else:
                with pytest.raises(IntegrityError) as info:
                    verify_bundle(env.token, content, ring, now=clock.wall())
                assert info.value.code == codes.KEY_EXPIRED


def test_emergency_rotation_rejects_tokens_of_the_leaked_key_at_once() -> None:
    clock = VirtualClock()
    ring = KeyRing.generate(clock=clock)
    signer = EnvelopeSigner(ring)
    leaked = signer.sign_bundle("join", b"room", version=1)
    ring.rotate(emergency=True)
    clock.advance(1)
    with pytest.raises(IntegrityError) as info:
        verify_bundle(leaked.token, b"room", ring, now=clock.wall())
    assert info.value.code == codes.KEY_REVOKED  # a leaked key: tampering, not an old copy
    fresh = signer.sign_bundle("join", b"room", version=2)
    verify_bundle(fresh.token, b"room", ring, now=clock.wall())
