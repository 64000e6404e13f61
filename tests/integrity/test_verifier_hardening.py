"""Issue 11: the verifier's rollback floor and key revocation hold against an attacker.

- Dropping a tampered copy must not reopen its version: the floor remembers *which*
  bundle was accepted at the highest version, not only the number.
- A bundle signed with an emergency-revoked (leaked) key is tampering, reported as such;
  a key whose normal overlap window ended is only refetched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mitigate.clock import VirtualClock
from mitigate.integrity import errors as codes
from mitigate.integrity.envelope import EnvelopeSigner
from mitigate.integrity.keyring import KeyRing
from mitigate.integrity.keyset import KeySet
from mitigate.integrity.verifier import (
    BundleStore,
    BundleVerifier,
    FileBundleStore,
    MemoryBundleStore,
    TamperReport,
)
from mitigate.observe.events import TamperDetected
from mitigate.observe.observers import Recorder


@pytest.fixture
def ring(virtual_clock: VirtualClock) -> KeyRing:
    return KeyRing.generate(clock=virtual_clock)


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BundleStore:
    return MemoryBundleStore() if request.param == "memory" else FileBundleStore(tmp_path)


def _tamper(store: BundleStore, bundle: str, content: bytes) -> None:
    stored = store.get(bundle)
    assert stored is not None
    if isinstance(store, MemoryBundleStore):
        store.tamper_with(bundle, content)
    else:
        assert isinstance(store, FileBundleStore)
        store._path(bundle, ".bundle").write_bytes(content)


def test_same_version_other_bytes_refused_after_the_copy_is_dropped(
    ring: KeyRing, virtual_clock: VirtualClock, store: BundleStore
) -> None:
    signer = EnvelopeSigner(ring)
    reports: list[TamperReport] = []
    v = BundleVerifier(ring, clock=virtual_clock, store=store, on_tamper=reports.append)
    good = signer.sign_bundle("course", b"the real v5", version=5)
    other = signer.sign_bundle("course", b"another v5", version=5)
    assert v.accept("course", good.token, b"the real v5").ok
    _tamper(store, "course", b"the real v6")
    assert v.mount("course").source == "none"  # dropped
    verdict = v.accept("course", other.token, b"another v5")
    assert not verdict.ok
    assert verdict.error is not None and verdict.error.code == codes.ROLLBACK
    assert reports[-1].reason == codes.ROLLBACK
    # the bundle that really was accepted at v5 may come back (a refetch after the drop)
    assert v.accept("course", good.token, b"the real v5").ok


def test_a_bundle_signed_with_an_emergency_revoked_key_is_tampering(
    ring: KeyRing, virtual_clock: VirtualClock
) -> None:
    leaked = KeyRing.from_json(ring.to_json(), clock=virtual_clock)  # the attacker's copy
    ring.rotate(emergency=True)
    virtual_clock.advance(5)
    forged = EnvelopeSigner(leaked).sign_bundle("course", b"malware", version=9)
    # the device knows the keys from the published document, not from the ring
    keys = KeySet.from_document(ring.document_bytes())
    recorder = Recorder()
    reports: list[TamperReport] = []
    v = BundleVerifier(keys, clock=virtual_clock, observers=[recorder], on_tamper=reports.append)
    verdict = v.accept("course", forged.token, b"malware")
    assert not verdict.ok
    assert verdict.error is not None and verdict.error.code == codes.KEY_REVOKED
    assert [t.reason for t in recorder.of(TamperDetected)] == [codes.KEY_REVOKED]
    assert [r.reason for r in reports] == [codes.KEY_REVOKED]


def test_a_key_past_its_normal_overlap_is_refetched_not_reported(
    ring: KeyRing, virtual_clock: VirtualClock
) -> None:
    old = EnvelopeSigner(ring).sign_bundle("course", b"old", version=1, expires_in=10 * 86400)
    ring.rotate()
    virtual_clock.advance(3 * 86400)  # past the 2-day overlap
    reports: list[TamperReport] = []
    v = BundleVerifier(
        KeySet.from_document(ring.document_bytes()), clock=virtual_clock, on_tamper=reports.append
    )
    verdict = v.accept("course", old.token, b"old")
    assert verdict.error is not None and verdict.error.code == codes.KEY_EXPIRED
    assert verdict.refetch and reports == []


def test_a_floor_file_written_before_digests_still_reads(tmp_path: Path) -> None:
    (tmp_path / "versions.json").write_text('{"course": 3}')
    store = FileBundleStore(tmp_path)
    assert store.floor("course") == (3, None)
    assert store.highest_version("course") == 3
