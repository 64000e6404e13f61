"""Signed envelopes: one for a bundle (digest, version), one for a license (device, expiry).

A bundle envelope carries the SHA-256 and size of the content, the bundle id, a version
that must never go down (rollback protection), the issue time and the kid that signed it.
A license binds a bundle to one device until ``expires_at`` (default 30 days). Both travel
as compact JWS with EdDSA, so any JOSE library can read them.

>>> from mitigate.clock import VirtualClock
>>> from mitigate.integrity.keyring import KeyRing
>>> clock = VirtualClock()
>>> ring = KeyRing.generate(clock=clock)
>>> signer = EnvelopeSigner(ring)
>>> env = signer.sign_bundle("course-7", b"bundle bytes", version=3)
>>> verify_bundle(env.token, b"bundle bytes", ring, now=clock.wall()).version
3
>>> verify_bundle(env.token, b"bundle bytez", ring, now=clock.wall())
Traceback (most recent call last):
...
mitigate.IntegrityError: [MITIGATE.INTEGRITY.DIGEST_MISMATCH] bundle course-7: \
content SHA-256 differs from the signed envelope; do not use these bytes; fetch a fresh copy

.. versionadded:: 0.1
"""

from __future__ import annotations

import hashlib
import hmac
import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mitigate.clock import Clock
from mitigate.errors import ConfigError
from mitigate.integrity import _jws
from mitigate.integrity import errors as codes
from mitigate.integrity.digests import b64url, b64url_decode
from mitigate.integrity.errors import IntegrityError
from mitigate.integrity.keyring import DAY, KeyRing
from mitigate.integrity.keyset import KeySource, PublicKey, _iso

__all__ = [
    "BUNDLE_TYPE",
    "DEFAULT_LICENSE_LIFETIME",
    "LICENSE_TYPE",
    "BundleEnvelope",
    "EnvelopeSigner",
    "License",
    "read_bundle_envelope",
    "verify_bundle",
    "verify_license",
]

BUNDLE_TYPE = "mitigate.bundle.v1"
LICENSE_TYPE = "mitigate.license.v1"
# content.fm.1.5: an offline device may play for 30 days, then must connect to renew.
DEFAULT_LICENSE_LIFETIME = 30 * DAY
# Tolerated disagreement between the signer's and the verifier's wall clocks.
DEFAULT_SKEW = 300.0


@dataclass(frozen=True, slots=True)
class BundleEnvelope:
    """What the signer vouched for about one bundle (read from a verified token)."""

    bundle: str
    version: int
    sha256: bytes
    size: int
    kid: str
    issued_at: int
    expires_at: int | None
    token: str

    @property
    def digest_b64(self) -> str:
        return b64url(self.sha256)


@dataclass(frozen=True, slots=True)
class License:
    """The right to play ``bundle`` on ``device`` until ``expires_at`` (wall seconds)."""

    license_id: str
    bundle: str
    device: str
    kid: str
    issued_at: int
    expires_at: int
    token: str


class EnvelopeSigner:
    """Signs bundle envelopes and licenses with a key ring's active key.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        ring: KeyRing,
        *,
        clock: Clock | None = None,
        license_lifetime: float | timedelta = DEFAULT_LICENSE_LIFETIME,
    ) -> None:
        lifetime = (
            license_lifetime.total_seconds()
            if isinstance(license_lifetime, timedelta)
            else float(license_lifetime)
        )
        if not lifetime > 0:
            raise ConfigError("license", f"lifetime must be > 0 seconds, not {license_lifetime!r}")
        self.ring = ring
        self.clock = clock or ring.clock
        self.license_lifetime = lifetime

    def sign_bundle(
        self, bundle: str, content: bytes, *, version: int, expires_in: float | None = None
    ) -> BundleEnvelope:
        """Hash ``content`` and sign its envelope."""
        digest = hashlib.sha256(content).digest()
        return self.sign_digest(
            bundle, digest, len(content), version=version, expires_in=expires_in
        )

    def sign_digest(
        self,
        bundle: str,
        sha256: bytes,
        size: int,
        *,
        version: int,
        expires_in: float | None = None,
    ) -> BundleEnvelope:
        """Sign an envelope for content already hashed (large bundles, streamed)."""
        if len(sha256) != 32:
            raise ValueError("sha256 must be the 32-byte digest")
        if isinstance(version, bool) or not 0 <= version < 2**63:
            raise ValueError(f"version must be a non-negative integer, not {version!r}")
        iat = math.floor(self.clock.wall())
        claims: dict[str, Any] = {
            "sub": bundle,
            "ver": version,
            "sha256": b64url(sha256),
            "size": size,
            "iat": iat,
        }
        exp = None
        if expires_in is not None:
            exp = iat + math.ceil(expires_in)
            claims["exp"] = exp
        token, kid = _jws.seal(self.ring, BUNDLE_TYPE, claims)
        return BundleEnvelope(bundle, version, sha256, size, kid, iat, exp, token)

    def issue_license(
        self, bundle: str, device: str, *, lifetime: float | timedelta | None = None
    ) -> License:
        """A license for ``bundle`` on ``device``, valid for ``lifetime`` (default 30 days)."""
        if lifetime is None:
            seconds = self.license_lifetime
        elif isinstance(lifetime, timedelta):
            seconds = lifetime.total_seconds()
        else:
            seconds = float(lifetime)
        if not seconds > 0:
            raise ConfigError("license", f"lifetime must be > 0 seconds, not {lifetime!r}")
        iat = math.floor(self.clock.wall())
        exp = iat + math.ceil(seconds)
        jti = uuid.uuid4().hex
        claims = {"jti": jti, "sub": bundle, "dev": device, "iat": iat, "exp": exp}
        token, kid = _jws.seal(self.ring, LICENSE_TYPE, claims)
        return License(jti, bundle, device, kid, iat, exp, token)


def read_bundle_envelope(token: str | bytes) -> BundleEnvelope:
    """Decode a bundle token WITHOUT checking its signature (for logs and routing)."""
    parsed = _jws.parse(token, BUNDLE_TYPE, "bundle envelope")
    return _bundle_from(parsed, "bundle envelope")


def verify_bundle(
    token: str | bytes,
    content: bytes | bytearray | memoryview,
    keys: KeySource,
    *,
    now: float,
    bundle: str | None = None,
    min_version: int | None = None,
    skew: float = DEFAULT_SKEW,
) -> BundleEnvelope:
    """Check a bundle against its envelope: signature, key window, expiry, version, hash.

    ``now`` is wall-clock seconds (``clock.wall()``); ``bundle`` the id you expect;
    ``min_version`` the highest version already accepted (equal is allowed: a re-download).
    Raises :class:`IntegrityError` with the code of the first check that failed.
    """
    envelope = _verified(token, BUNDLE_TYPE, keys, now=now, skew=skew, label="bundle")
    parsed, key = envelope
    env = _bundle_from(parsed, "bundle envelope")
    subject = f"bundle {env.bundle}"
    _check_times(subject, env.issued_at, env.expires_at, key, now, skew)
    if bundle is not None and env.bundle != bundle:
        raise IntegrityError(
            subject,
            f"envelope is for another bundle (expected {bundle!r})",
            code=codes.SUBJECT_MISMATCH,
        )
    if min_version is not None and env.version < min_version:
        raise IntegrityError(
            subject,
            f"version {env.version} is older than {min_version}, already accepted (rollback)",
            code=codes.ROLLBACK,
            hint="keep the newer bundle; fetch the current version",
        )
    view = memoryview(content)
    if view.nbytes != env.size or not hmac.compare_digest(
        hashlib.sha256(view).digest(), env.sha256
    ):
        raise IntegrityError(
            subject, "content SHA-256 differs from the signed envelope", code=codes.DIGEST_MISMATCH
        )
    return env


def verify_license(
    token: str | bytes,
    keys: KeySource,
    *,
    now: float,
    device: str,
    bundle: str | None = None,
    skew: float = DEFAULT_SKEW,
) -> License:
    """Check a license: signature, key window, device binding, bundle, expiry.

    Expiry is exact: valid while ``now < expires_at`` (no skew allowance on expiry).
    """
    parsed, key = _verified(token, LICENSE_TYPE, keys, now=now, skew=skew, label="license")
    try:
        claims = parsed.claims
        if set(claims) != {"jti", "sub", "dev", "iat", "exp"}:
            raise ValueError("unexpected license fields")
        lic = License(
            license_id=_jws.claim_str(claims, "jti", max_len=64),
            bundle=_jws.claim_str(claims, "sub"),
            device=_jws.claim_str(claims, "dev"),
            kid=parsed.kid,
            issued_at=_jws.claim_int(claims, "iat"),
            expires_at=_jws.claim_int(claims, "exp"),
            token=parsed.token,
        )
    except ValueError as exc:
        raise IntegrityError("license", f"malformed: {exc}", code=codes.MALFORMED) from None
    subject = f"license {lic.license_id}"
    if lic.device != device:
        raise IntegrityError(
            subject,
            "bound to another device",
            code=codes.DEVICE_MISMATCH,
            hint="request a license for this device",
        )
    if bundle is not None and lic.bundle != bundle:
        raise IntegrityError(subject, f"not for bundle {bundle!r}", code=codes.SUBJECT_MISMATCH)
    if now >= lic.expires_at:
        raise IntegrityError(
            subject,
            f"expired at {_iso(lic.expires_at)}",
            code=codes.EXPIRED,
            hint="connect to renew the license",
        )
    _check_times(subject, lic.issued_at, None, key, now, skew)
    return lic


# -- shared checks --------------------------------------------------------------------


def _verified(
    token: str | bytes, typ: str, keys: KeySource, *, now: float, skew: float, label: str
) -> tuple[_jws.Parsed, PublicKey]:
    parsed = _jws.parse(token, typ, label)
    key = keys.key(parsed.kid)
    if not key.verify(parsed.signature, parsed.signing_input):
        raise IntegrityError(
            label,
            f"signature does not verify with key {parsed.kid}",
            code=codes.SIGNATURE_INVALID,
        )
    key.check_valid(now)
    return parsed, key


def _check_times(
    subject: str, iat: int, exp: int | None, key: PublicKey, now: float, skew: float
) -> None:
    if iat > now + skew:
        raise IntegrityError(
            subject,
            f"issued in the future ({_iso(iat)}, now {_iso(now)})",
            code=codes.NOT_YET_VALID,
            hint="check the device clock",
        )
    # A signature dated outside its key's window was made by a key that should not sign.
    if iat < key.not_before - skew or (key.not_after is not None and iat > key.not_after):
        raise IntegrityError(
            subject,
            f"issued at {_iso(iat)}, outside the window of key {key.kid}",
            code=codes.SIGNATURE_INVALID,
        )
    if exp is not None and now >= exp:
        raise IntegrityError(subject, f"expired at {_iso(exp)}", code=codes.EXPIRED)


def _bundle_from(parsed: _jws.Parsed, label: str) -> BundleEnvelope:
    try:
        claims = parsed.claims
        allowed = {"sub", "ver", "sha256", "size", "iat", "exp"}
        if not {"sub", "ver", "sha256", "size", "iat"} <= set(claims) <= allowed:
            raise ValueError("unexpected bundle fields")
        digest = b64url_decode(_jws.claim_str(claims, "sha256", max_len=64))
        if len(digest) != 32:
            raise ValueError("sha256 must be 32 bytes")
        exp = _jws.claim_int(claims, "exp") if "exp" in claims else None
        return BundleEnvelope(
            bundle=_jws.claim_str(claims, "sub"),
            version=_jws.claim_int(claims, "ver"),
            sha256=digest,
            size=_jws.claim_int(claims, "size"),
            kid=parsed.kid,
            issued_at=_jws.claim_int(claims, "iat"),
            expires_at=exp,
            token=parsed.token,
        )
    except ValueError as exc:
        raise IntegrityError(label, f"malformed: {exc}", code=codes.MALFORMED) from None
