"""Bundle envelopes and licenses: every check fails with its own code."""

from __future__ import annotations

import base64
import json

import pytest

from mitigate.clock import VirtualClock
from mitigate.integrity import errors as codes
from mitigate.integrity.digests import b64url
from mitigate.integrity.envelope import (
    DEFAULT_LICENSE_LIFETIME,
    EnvelopeSigner,
    read_bundle_envelope,
    verify_bundle,
    verify_license,
)
from mitigate.integrity.errors import IntegrityError
from mitigate.integrity.keyring import KeyRing

DAY = 86_400


@pytest.fixture
def ring(virtual_clock: VirtualClock) -> KeyRing:
    return KeyRing.generate(clock=virtual_clock)


@pytest.fixture
def signer(ring: KeyRing) -> EnvelopeSigner:
    return EnvelopeSigner(ring)


def _code(fn) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError) as info:
        fn()
    return info.value.code


def test_a_signed_bundle_verifies(signer, ring, virtual_clock) -> None:
    env = signer.sign_bundle("course-1", b"content", version=4)
    got = verify_bundle(env.token, b"content", ring, now=virtual_clock.wall(), bundle="course-1")
    assert (got.bundle, got.version, got.size, got.kid) == ("course-1", 4, 7, ring.active_kid)
    assert got == env


def test_the_envelope_is_a_standard_compact_jws(signer) -> None:
    env = signer.sign_bundle("b", b"x", version=1)
    header, payload, _sig = env.token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    assert json.loads(base64.urlsafe_b64decode(pad(header))) == {
        "alg": "EdDSA",
        "kid": env.kid,
        "typ": "mitigate.bundle.v1",
    }
    claims = json.loads(base64.urlsafe_b64decode(pad(payload)))
    assert claims["sha256"] == b64url(env.sha256)
    assert claims["ver"] == 1


def test_modified_content_is_a_digest_mismatch(signer, ring, virtual_clock) -> None:
    env = signer.sign_bundle("b", b"content", version=1)
    now = virtual_clock.wall()
    assert _code(lambda: verify_bundle(env.token, b"Content", ring, now=now)) == (
        codes.DIGEST_MISMATCH
    )
    assert _code(lambda: verify_bundle(env.token, b"content+", ring, now=now)) == (
        codes.DIGEST_MISMATCH
    )


def test_a_claim_changed_after_signing_breaks_the_signature(signer, ring, virtual_clock) -> None:
    env = signer.sign_bundle("b", b"content", version=1)
    header, payload, sig = env.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["ver"] = 99
    forged_payload = b64url(json.dumps(claims).encode())
    forged = f"{header}.{forged_payload}.{sig}"
    assert _code(lambda: verify_bundle(forged, b"content", ring, now=virtual_clock.wall())) == (
        codes.SIGNATURE_INVALID
    )


def test_a_signature_by_another_ring_is_an_unknown_kid(signer, ring, virtual_clock) -> None:
    other = EnvelopeSigner(KeyRing.generate(clock=virtual_clock))
    env = other.sign_bundle("b", b"content", version=1)
    assert _code(lambda: verify_bundle(env.token, b"content", ring, now=virtual_clock.wall())) == (
        codes.UNKNOWN_KID
    )


def test_rollback_is_refused_and_equal_version_allowed(signer, ring, virtual_clock) -> None:
    env = signer.sign_bundle("b", b"v3", version=3)
    now = virtual_clock.wall()
    verify_bundle(env.token, b"v3", ring, now=now, min_version=3)
    assert _code(lambda: verify_bundle(env.token, b"v3", ring, now=now, min_version=4)) == (
        codes.ROLLBACK
    )


def test_an_envelope_for_another_bundle_is_refused(signer, ring, virtual_clock) -> None:
    env = signer.sign_bundle("course-a", b"x", version=1)
    assert _code(
        lambda: verify_bundle(env.token, b"x", ring, now=virtual_clock.wall(), bundle="course-b")
    ) == (codes.SUBJECT_MISMATCH)


def test_bundle_expiry_is_exact(signer, ring, virtual_clock) -> None:
    env = signer.sign_bundle("b", b"x", version=1, expires_in=3600)
    virtual_clock.advance(3599)
    verify_bundle(env.token, b"x", ring, now=virtual_clock.wall())
    virtual_clock.advance(1)
    assert _code(lambda: verify_bundle(env.token, b"x", ring, now=virtual_clock.wall())) == (
        codes.EXPIRED
    )


def test_a_bundle_dated_in_the_future_is_refused(signer, ring, virtual_clock) -> None:
    env = signer.sign_bundle("b", b"x", version=1)
    now = virtual_clock.wall() - 3600  # the verifier's clock is an hour behind
    # The key itself is not valid yet at that time either; both are clock problems.
    assert _code(lambda: verify_bundle(env.token, b"x", ring, now=now)) in (
        codes.NOT_YET_VALID,
        codes.KEY_NOT_YET_VALID,
    )


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "!!!.x.y", "e30.e30.AAAA", "x" * 20_000, "é.é.é"],
)
def test_malformed_tokens_are_malformed(token: str, ring, virtual_clock) -> None:
    assert _code(lambda: verify_bundle(token, b"", ring, now=virtual_clock.wall())) == (
        codes.MALFORMED
    )


def test_a_license_token_is_not_a_bundle_envelope(signer, ring, virtual_clock) -> None:
    lic = signer.issue_license("b", "device-1")
    assert _code(lambda: verify_bundle(lic.token, b"", ring, now=virtual_clock.wall())) == (
        codes.MALFORMED
    )
    env = signer.sign_bundle("b", b"", version=1)
    assert _code(
        lambda: verify_license(env.token, ring, now=virtual_clock.wall(), device="device-1")
    ) == (codes.MALFORMED)


def test_read_without_verifying_is_for_routing_only(signer) -> None:
    env = signer.sign_bundle("b", b"x", version=2)
    assert read_bundle_envelope(env.token).version == 2


# -- licenses (content.fm.1.5) ----------------------------------------------------------


def test_license_defaults_to_30_days(signer, ring, virtual_clock) -> None:
    assert DEFAULT_LICENSE_LIFETIME == 30 * DAY
    lic = signer.issue_license("course", "tablet-1")
    assert lic.expires_at - lic.issued_at == 30 * DAY
    virtual_clock.advance(30 * DAY - 1)
    verify_license(lic.token, ring, now=virtual_clock.wall(), device="tablet-1", bundle="course")
    virtual_clock.advance(2)  # 30 days + 1 s
    with pytest.raises(IntegrityError) as info:
        verify_license(lic.token, ring, now=virtual_clock.wall(), device="tablet-1")
    assert info.value.code == codes.EXPIRED
    assert "connect to renew" in str(info.value)


def test_license_lifetime_is_configurable(ring, virtual_clock) -> None:
    signer = EnvelopeSigner(ring, license_lifetime=7 * DAY)
    lic = signer.issue_license("course", "tablet-1")
    virtual_clock.advance(7 * DAY - 1)
    verify_license(lic.token, ring, now=virtual_clock.wall(), device="tablet-1")
    virtual_clock.advance(2)
    with pytest.raises(IntegrityError):
        verify_license(lic.token, ring, now=virtual_clock.wall(), device="tablet-1")


def test_license_is_bound_to_its_device_and_bundle(signer, ring, virtual_clock) -> None:
    lic = signer.issue_license("course", "tablet-1")
    now = virtual_clock.wall()
    assert _code(lambda: verify_license(lic.token, ring, now=now, device="tablet-2")) == (
        codes.DEVICE_MISMATCH
    )
    assert _code(
        lambda: verify_license(lic.token, ring, now=now, device="tablet-1", bundle="other")
    ) == (codes.SUBJECT_MISMATCH)


def test_bad_lifetimes_fail_at_configuration(ring) -> None:
    from mitigate.errors import ConfigError

    with pytest.raises(ConfigError):
        EnvelopeSigner(ring, license_lifetime=0)
