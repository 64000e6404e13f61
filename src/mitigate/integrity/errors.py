"""Errors of the integrity layer: verification failures, key ring misuse, signed URLs.

Each class has one stable code; an instance refines it to say which check failed
(``MITIGATE.INTEGRITY.DIGEST_MISMATCH``, ``MITIGATE.INTEGRITY.KEY_EXPIRED``, ...), so
alerts and clients can branch on ``error.code``.

>>> err = IntegrityError("bundle:intro", "content hash differs from the envelope",
...                      code=DIGEST_MISMATCH)
>>> err.code
'MITIGATE.INTEGRITY.DIGEST_MISMATCH'
>>> str(err)
'[MITIGATE.INTEGRITY.DIGEST_MISMATCH] bundle:intro: content hash differs from the envelope; \
do not use these bytes; fetch a fresh copy'

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import ClassVar

from mitigate.errors import MitigateError

__all__ = [
    "DeviceRevokedError",
    "IntegrityError",
    "KeyRingError",
    "SignedUrlError",
]

# Refined codes an IntegrityError carries (the check that failed).
DIGEST_MISMATCH = "MITIGATE.INTEGRITY.DIGEST_MISMATCH"
SIGNATURE_INVALID = "MITIGATE.INTEGRITY.SIGNATURE_INVALID"
UNKNOWN_KID = "MITIGATE.INTEGRITY.UNKNOWN_KID"
KEY_EXPIRED = "MITIGATE.INTEGRITY.KEY_EXPIRED"
KEY_REVOKED = "MITIGATE.INTEGRITY.KEY_REVOKED"
KEY_NOT_YET_VALID = "MITIGATE.INTEGRITY.KEY_NOT_YET_VALID"
EXPIRED = "MITIGATE.INTEGRITY.EXPIRED"
NOT_YET_VALID = "MITIGATE.INTEGRITY.NOT_YET_VALID"
ROLLBACK = "MITIGATE.INTEGRITY.ROLLBACK"
DEVICE_MISMATCH = "MITIGATE.INTEGRITY.DEVICE_MISMATCH"
MALFORMED = "MITIGATE.INTEGRITY.MALFORMED"
SUBJECT_MISMATCH = "MITIGATE.INTEGRITY.SUBJECT_MISMATCH"

# Refined codes a KeyRingError carries.
RETIRE_IN_OVERLAP = "MITIGATE.KEYRING.OVERLAP"
RETIRE_ACTIVE = "MITIGATE.KEYRING.ACTIVE_KEY"
KEYRING_UNKNOWN_KID = "MITIGATE.KEYRING.UNKNOWN_KID"
ROTATED_OUT = "MITIGATE.KEYRING.ROTATED_OUT"

# Refined codes a SignedUrlError carries.
URL_EXPIRED = "MITIGATE.URL.EXPIRED"
URL_CONTENT_CHANGED = "MITIGATE.URL.CONTENT_CHANGED"


class IntegrityError(MitigateError):
    """Bytes, an envelope or a license failed verification; never use what failed."""

    code: ClassVar[str] = "MITIGATE.INTEGRITY.INVALID"
    default_hint: ClassVar[str] = "do not use these bytes; fetch a fresh copy"


class DeviceRevokedError(IntegrityError):
    """The device lost its trust after repeated tamper reports; an operator must restore it."""

    code: ClassVar[str] = "MITIGATE.INTEGRITY.DEVICE_REVOKED"
    default_hint: ClassVar[str] = "device trust was revoked; an operator must review and restore it"


class KeyRingError(MitigateError):
    """A key ring operation was refused (retiring inside the overlap window, unknown kid)."""

    code: ClassVar[str] = "MITIGATE.KEYRING.INVALID"


class SignedUrlError(MitigateError):
    """A signed URL is malformed, forged, or expired; answer 403 and let the client renew."""

    code: ClassVar[str] = "MITIGATE.URL.INVALID"
    default_hint: ClassVar[str] = "request a fresh signed URL"
