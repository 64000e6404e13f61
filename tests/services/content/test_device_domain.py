"""The device side's pure domain: licence states, sync ordering, bundle sealing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from services.content.domain import sealing
from services.content.domain.bundles import BundleRequest, DeviceKeyMissingError, is_permanent
from services.content.domain.licenses import (
    DEFAULT_LIFETIME,
    LicenseRecord,
    LicenseState,
    license_state,
    lifetime_for,
)
from services.content.domain.sync import Delta, order_deltas


def record(**changes: Any) -> LicenseRecord:
    base = LicenseRecord("l1", "b1", "d1", issued_at=0.0, expires_at=100.0)
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "now", "state"),
    [
        ({}, 10.0, LicenseState.READY),
        ({"fetched": True}, 10.0, LicenseState.ACTIVE),
        ({"fetched": True}, 100.0, LicenseState.EXPIRED),
        ({"fetched": True}, 99.999, LicenseState.ACTIVE),
        ({"fetched": True, "revoked": True}, 10.0, LicenseState.REVOKED),
        ({"revoked": True}, 500.0, LicenseState.REVOKED),  # revocation wins over expiry
    ],
)
def test_license_state(changes: dict[str, Any], now: float, state: LicenseState) -> None:
    assert license_state(record(**changes), now) is state


def test_lifetime_defaults_to_30_days_and_is_per_tenant() -> None:
    assert DEFAULT_LIFETIME == 30 * 86_400
    assert lifetime_for({"acme": 7 * 86_400.0}, "acme") == 7 * 86_400
    assert lifetime_for({"acme": 7 * 86_400.0}, "other") == DEFAULT_LIFETIME
    with pytest.raises(ValueError, match="must be > 0"):
        lifetime_for({"bad": 0.0}, "bad")


def test_revocations_come_first_then_keys_then_the_rest_in_order() -> None:
    deltas = [
        Delta("bundle", "b1", seq=1),
        Delta("keys", "k2", seq=2),
        Delta("license", "l1", seq=3),
        Delta("revocation", "b0", seq=4),
        Delta("bundle", "b2", seq=5),
        Delta("revocation", "b9", seq=6),
    ]
    ordered = order_deltas(deltas)
    assert [(d.kind, d.id) for d in ordered] == [
        ("revocation", "b0"),
        ("revocation", "b9"),
        ("keys", "k2"),
        ("bundle", "b1"),
        ("bundle", "b2"),
        ("license", "l1"),
    ]
    assert [d.seq for d in order_deltas(deltas, revocations_first=False)] == [1, 2, 3, 4, 5, 6]


def test_a_bundle_is_one_per_device_and_course() -> None:
    assert BundleRequest("t", "d1", "c1").bundle_id == "c1@d1"
    assert is_permanent(DeviceKeyMissingError("no key"))
    assert not is_permanent(ConnectionError("kms down"))


def test_sealed_bundle_opens_only_on_its_device_and_unchanged() -> None:
    device = X25519PrivateKey.generate()
    other = X25519PrivateKey.generate()
    data_key = sealing.new_data_key()
    aad = b"c1@d1"
    sealed = sealing.encrypt(data_key, b"lesson", aad)
    for_device = sealing.seal_for_device(data_key, sealing.public_bytes(device.public_key()), aad)
    opened = sealing.open_on_device(for_device, device, aad)
    assert sealing.decrypt(opened, sealed, aad) == b"lesson"
    with pytest.raises(InvalidTag):
        sealing.open_on_device(for_device, other, aad)
    with pytest.raises(InvalidTag):
        sealing.decrypt(opened, sealed, b"c1@d2")  # bound to its bundle id
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(InvalidTag):
        sealing.decrypt(opened, bytes(tampered), aad)
