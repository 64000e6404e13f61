"""Key ring: thumbprint kids, publish-before-sign rotation, overlap window, retirement."""

from __future__ import annotations

import pytest

from mitigate.clock import VirtualClock
from mitigate.integrity import errors as codes
from mitigate.integrity.digests import b64url_decode
from mitigate.integrity.errors import KeyRingError
from mitigate.integrity.keyring import DEFAULT_OVERLAP, KeyRing
from mitigate.integrity.keyset import KeySet, jwk_thumbprint
from mitigate.observe.events import KeyRotated
from mitigate.observe.observers import Recorder

DAY = 86_400.0


def test_kid_is_the_rfc7638_thumbprint_of_the_rfc8037_example_key() -> None:
    x = b64url_decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
    assert jwk_thumbprint(x) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_every_kid_is_its_own_keys_thumbprint(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    ring.rotate()
    for key in ring.keyset():
        assert key.kid == jwk_thumbprint(key.x)


def test_default_overlap_is_two_days() -> None:
    assert DEFAULT_OVERLAP == 2 * DAY
    assert KeyRing().overlap == 2 * DAY


def test_publish_next_lists_the_key_before_it_signs(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    old = ring.active_kid
    new = ring.publish_next()
    assert new in ring.keyset()
    assert ring.sign(b"m").kid == old  # published, not yet signing
    virtual_clock.advance(3600)
    ring.activate(new)
    assert ring.sign(b"m").kid == new
    doc = {k["kid"]: k for k in ring.document()["keys"]}
    assert doc[new]["nbf"] == virtual_clock.wall() - 3600
    assert doc[old]["exp"] == virtual_clock.wall() + 2 * DAY
    assert "exp" not in doc[new]


def test_retire_inside_overlap_is_refused_with_a_code(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    old = ring.active_kid
    ring.rotate()
    virtual_clock.advance(1 * DAY)
    with pytest.raises(KeyRingError) as info:
        ring.retire(old)
    assert info.value.code == codes.RETIRE_IN_OVERLAP == "MITIGATE.KEYRING.OVERLAP"
    assert old in ring.keyset()
    virtual_clock.advance(1 * DAY)  # exactly at the end: still inside
    with pytest.raises(KeyRingError):
        ring.retire(old)
    virtual_clock.advance(1)
    ring.retire(old)
    assert old not in ring.keyset()


def test_the_active_key_cannot_be_retired(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    with pytest.raises(KeyRingError) as info:
        ring.retire(ring.active_kid)
    assert info.value.code == codes.RETIRE_ACTIVE


def test_a_published_unused_key_can_be_withdrawn(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    staged = ring.publish_next()
    ring.retire(staged)
    assert staged not in ring.keyset()


def test_unknown_kid_is_refused(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    with pytest.raises(KeyRingError) as info:
        ring.activate("nope")
    assert info.value.code == codes.KEYRING_UNKNOWN_KID


def test_a_rotated_out_key_cannot_sign_again(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    old = ring.active_kid
    ring.rotate()
    with pytest.raises(KeyRingError) as info:
        ring.activate(old)
    assert info.value.code == codes.ROTATED_OUT


def test_emergency_rotation_ends_the_old_window_now(virtual_clock: VirtualClock) -> None:
    recorder = Recorder()
    ring = KeyRing.generate(clock=virtual_clock, observers=[recorder])
    old = ring.active_kid
    new = ring.rotate(emergency=True)
    assert ring.keyset().key(old).not_after == virtual_clock.wall()
    virtual_clock.advance(1)
    ring.retire(old)  # nothing to wait for
    events = recorder.of(KeyRotated)
    assert [(e.kid, e.emergency) for e in events][-1] == (new, True)
    assert events[-1].previous_kid == old


def test_revoke_the_active_key_rotates_first(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    leaked = ring.active_kid
    ring.revoke(leaked)
    assert ring.active_kid != leaked
    assert ring.keyset().key(leaked).not_after == virtual_clock.wall()


def test_ring_round_trips_through_its_file(tmp_path, virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    ring.rotate()
    path = tmp_path / "ring.json"
    ring.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = KeyRing.load(path, clock=virtual_clock)
    assert again.active_kid == ring.active_kid
    assert again.document() == ring.document()
    sig = again.sign(b"payload")
    assert ring.keyset().key(sig.kid).verify(sig.value, b"payload")


def test_document_parses_back_to_the_same_keys(virtual_clock: VirtualClock) -> None:
    ring = KeyRing.generate(clock=virtual_clock)
    ring.rotate()
    parsed = KeySet.from_document(ring.document_bytes())
    assert parsed.kids() == ring.keyset().kids()
    assert parsed.document() == ring.document()
