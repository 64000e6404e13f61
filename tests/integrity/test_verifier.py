"""The device verifier: tamper events, last-known-good fallback, rollback, unmount."""

from __future__ import annotations

import pytest

from mitigate.clock import VirtualClock
from mitigate.integrity import errors as codes
from mitigate.integrity.envelope import EnvelopeSigner
from mitigate.integrity.keyring import KeyRing
from mitigate.integrity.verifier import (
    BundleVerifier,
    FileBundleStore,
    MemoryBundleStore,
    TamperReport,
)
from mitigate.observe.events import FallbackUsed, TamperDetected
from mitigate.observe.observers import Recorder


@pytest.fixture
def ring(virtual_clock: VirtualClock) -> KeyRing:
    return KeyRing.generate(clock=virtual_clock)


@pytest.fixture
def signer(ring: KeyRing) -> EnvelopeSigner:
    return EnvelopeSigner(ring)


def _verifier(ring, clock, **kw):  # type: ignore[no-untyped-def]
    reports: list[TamperReport] = []
    recorder = Recorder()
    v = BundleVerifier(
        ring, clock=clock, device="tablet-1", observers=[recorder], on_tamper=reports.append, **kw
    )
    return v, recorder, reports


def test_tampered_arrival_falls_back_to_last_known_good(signer, ring, virtual_clock) -> None:
    v, recorder, reports = _verifier(ring, virtual_clock)
    v1 = signer.sign_bundle("course", b"version one", version=1)
    assert v.accept("course", v1.token, b"version one").ok
    v2 = signer.sign_bundle("course", b"version two", version=2)
    verdict = v.accept("course", v2.token, b"version tw0")
    assert verdict.source == "last_known_good"
    assert verdict.content == b"version one"
    assert verdict.envelope is not None and verdict.envelope.version == 1
    assert verdict.refetch and verdict.error is not None
    assert verdict.error.code == codes.DIGEST_MISMATCH
    tamper = recorder.of(TamperDetected)
    assert [(t.subject, t.reason, t.device, t.kid) for t in tamper] == [
        ("course", codes.DIGEST_MISMATCH, "tablet-1", ring.active_kid)
    ]
    assert recorder.values("fallback.used", "source") == ["last_known_good"]
    assert [(r.device, r.bundle, r.reason) for r in reports] == [
        ("tablet-1", "course", codes.DIGEST_MISMATCH)
    ]
    # The good version still arrives afterwards.
    assert v.accept("course", v2.token, b"version two").ok


def test_without_a_good_copy_nothing_is_served(signer, ring, virtual_clock) -> None:
    v, recorder, _ = _verifier(ring, virtual_clock)
    env = signer.sign_bundle("course", b"bytes", version=1)
    verdict = v.accept("course", env.token, b"byte5")
    assert (verdict.source, verdict.content, verdict.refetch) == ("none", None, True)
    assert recorder.of(FallbackUsed) == []


def test_rollback_to_an_older_signed_version_is_refused(signer, ring, virtual_clock) -> None:
    v, _, reports = _verifier(ring, virtual_clock)
    v1 = signer.sign_bundle("course", b"one", version=1)
    v2 = signer.sign_bundle("course", b"two", version=2)
    assert v.accept("course", v2.token, b"two").ok
    verdict = v.accept("course", v1.token, b"one")
    assert verdict.error is not None and verdict.error.code == codes.ROLLBACK
    assert verdict.content == b"two"
    assert reports[-1].reason == codes.ROLLBACK


def test_same_version_with_other_bytes_is_refused(signer, ring, virtual_clock) -> None:
    v, _, _ = _verifier(ring, virtual_clock)
    a = signer.sign_bundle("course", b"a", version=5)
    b = signer.sign_bundle("course", b"b", version=5)
    assert v.accept("course", a.token, b"a").ok
    assert v.accept("course", a.token, b"a").ok  # a re-download of the same thing
    verdict = v.accept("course", b.token, b"b")
    assert verdict.error is not None and verdict.error.code == codes.ROLLBACK


def test_rollback_floor_survives_an_unmount(signer, ring, virtual_clock) -> None:
    store = MemoryBundleStore()
    v, _, _ = _verifier(ring, virtual_clock, store=store)
    v1 = signer.sign_bundle("course", b"one", version=1)
    v2 = signer.sign_bundle("course", b"two", version=2)
    assert v.accept("course", v2.token, b"two").ok
    store.tamper_with("course", b"tw0")
    assert not v.mount("course").ok  # unmounted
    verdict = v.accept("course", v1.token, b"one")
    assert verdict.error is not None and verdict.error.code == codes.ROLLBACK


def test_mount_detects_bytes_flipped_on_the_device(signer, ring, virtual_clock) -> None:
    store = MemoryBundleStore()
    v, recorder, reports = _verifier(ring, virtual_clock, store=store)
    env = signer.sign_bundle("course", b"mounted bytes", version=1)
    assert v.accept("course", env.token, b"mounted bytes").ok
    assert v.mount("course").ok
    store.tamper_with("course", b"mounted bytez")
    verdict = v.mount("course")
    assert (verdict.source, verdict.content, verdict.refetch) == ("none", None, True)
    assert store.get("course") is None  # unmounted before any playback
    assert recorder.values("integrity.tamper_detected", "reason") == [codes.DIGEST_MISMATCH]
    assert len(reports) == 1
    assert v.mount("course").source == "none"


def test_expired_bundles_are_refused_but_not_reported_as_tamper(
    signer, ring, virtual_clock
) -> None:
    v, recorder, reports = _verifier(ring, virtual_clock)
    env = signer.sign_bundle("course", b"x", version=1, expires_in=60)
    virtual_clock.advance(61)
    verdict = v.accept("course", env.token, b"x")
    assert verdict.error is not None and verdict.error.code == codes.EXPIRED
    assert verdict.refetch
    assert reports == [] and recorder.of(TamperDetected) == []


def test_report_ids_are_unique_per_failure(signer, ring, virtual_clock) -> None:
    v, _, reports = _verifier(ring, virtual_clock)
    env = signer.sign_bundle("course", b"x", version=1)
    v.accept("course", env.token, b"y")
    v.accept("course", env.token, b"y")
    assert len({r.report_id for r in reports}) == 2


def test_file_store_keeps_last_known_good_across_restarts(
    tmp_path, signer, ring, virtual_clock
) -> None:
    v, _, _ = _verifier(ring, virtual_clock, store=FileBundleStore(tmp_path))
    env = signer.sign_bundle("../../etc/passwd", b"payload", version=3)
    assert v.accept("../../etc/passwd", env.token, b"payload").ok
    assert all(p.parent == tmp_path for p in tmp_path.iterdir())  # ids never escape
    again, _, _ = _verifier(ring, virtual_clock, store=FileBundleStore(tmp_path))
    assert again.mount("../../etc/passwd").content == b"payload"
    assert again.store.highest_version("../../etc/passwd") == 3
    # Bytes changed on disk are caught on the next mount.
    bundle_file = next(tmp_path.glob("*.bundle"))
    bundle_file.write_bytes(b"paylaod")
    assert again.mount("../../etc/passwd").error is not None
