"""Hypothesis: the envelope verifier never crashes and never accepts a modified byte."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mitigate.clock import VirtualClock
from mitigate.integrity import _jws
from mitigate.integrity.digests import b64url
from mitigate.integrity.envelope import EnvelopeSigner, verify_bundle, verify_license
from mitigate.integrity.errors import IntegrityError
from mitigate.integrity.keyring import KeyRing

CLOCK = VirtualClock()
RING = KeyRing.generate(clock=CLOCK)
SIGNER = EnvelopeSigner(RING)
CONTENT = b"the bundle content \x00\xff" * 50
ENV = SIGNER.sign_bundle("course-fuzz", CONTENT, version=7, expires_in=3600)
LIC = SIGNER.issue_license("course-fuzz", "device-1")
NOW = CLOCK.wall()
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rejects(token: str | bytes, content: bytes) -> bool:
    try:
        verify_bundle(token, content, RING, now=NOW, bundle="course-fuzz", min_version=7)
    except IntegrityError:
        return True
    return False


def test_the_unmodified_envelope_verifies() -> None:
    assert not _rejects(ENV.token, CONTENT)


@FUZZ
@given(st.data())
def test_any_single_character_change_of_the_token_is_rejected(data: st.DataObject) -> None:
    token = ENV.token
    i = data.draw(st.integers(0, len(token) - 1))
    c = data.draw(st.characters().filter(lambda ch: ch != token[i]))
    assert _rejects(token[:i] + c + token[i + 1 :], CONTENT)


@FUZZ
@given(st.data())
def test_any_byte_change_of_the_token_bytes_is_rejected(data: st.DataObject) -> None:
    raw = bytearray(ENV.token.encode())
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    assert _rejects(bytes(raw), CONTENT)


@FUZZ
@given(st.data())
def test_truncation_or_insertion_in_the_token_is_rejected(data: st.DataObject) -> None:
    token = ENV.token
    i = data.draw(st.integers(0, len(token)))
    if data.draw(st.booleans()):
        j = data.draw(st.integers(i, len(token)).filter(lambda j: j != i or i < len(token)))
        mutated = token[:i] + token[max(j, i + 1) :]
    else:
        mutated = token[:i] + data.draw(st.text(min_size=1, max_size=8)) + token[i:]
    assert mutated != token
    assert _rejects(mutated, CONTENT)


@FUZZ
@given(st.data())
def test_any_change_of_the_content_is_rejected(data: st.DataObject) -> None:
    content = bytearray(CONTENT)
    kind = data.draw(st.sampled_from(["flip", "insert", "delete", "append"]))
    i = data.draw(st.integers(0, len(content) - 1))
    if kind == "flip":
        content[i] ^= data.draw(st.integers(1, 255))
    elif kind == "insert":
        content[i:i] = data.draw(st.binary(min_size=1, max_size=4))
    elif kind == "delete":
        del content[i]
    else:
        content += data.draw(st.binary(min_size=1, max_size=4))
    assert bytes(content) != CONTENT
    assert _rejects(ENV.token, bytes(content))


@FUZZ
@given(st.one_of(st.text(max_size=600), st.binary(max_size=600)))
def test_arbitrary_input_only_ever_raises_integrity_errors(token: str | bytes) -> None:
    assert _rejects(token, CONTENT)
    with pytest.raises(IntegrityError):
        verify_license(token, RING, now=NOW, device="device-1")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["sub", "ver", "sha256", "size", "iat", "exp", "jti", "dev", "x"]),
        _json,
        max_size=8,
    )
)
def test_validly_signed_but_odd_claims_never_crash(claims: dict[str, object]) -> None:
    try:
        raw = json.dumps(claims)
    except ValueError:
        return
    header = b64url(
        json.dumps({"alg": "EdDSA", "kid": RING.active_kid, "typ": "mitigate.bundle.v1"}).encode()
    )
    payload = b64url(raw.encode())
    sig = RING.sign(f"{header}.{payload}".encode()).value
    token = f"{header}.{payload}.{b64url(sig)}"
    try:
        env = verify_bundle(token, CONTENT, RING, now=NOW)
    except IntegrityError:
        return
    # Accepted only when the claims really describe this content.
    assert env.sha256 == ENV.sha256 and env.size == len(CONTENT)


def test_parse_rejects_other_algorithms() -> None:
    header = b64url(
        json.dumps({"alg": "none", "kid": RING.active_kid, "typ": "mitigate.bundle.v1"}).encode()
    )
    rest = ENV.token.split(".", 1)[1]
    assert _rejects(f"{header}.{rest}", CONTENT)
    try:
        _jws.parse(f"{header}.{rest}", "mitigate.bundle.v1", "x")
    except IntegrityError as exc:
        assert "EdDSA" in str(exc)
    else:
        raise AssertionError("alg none was accepted")
