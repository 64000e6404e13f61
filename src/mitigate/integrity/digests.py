"""SHA-256 digests of bytes and streams, and the base64url text form they travel in.

>>> d = sha256(b"hello")
>>> b64url(d)
'LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ'
>>> b64url_decode(b64url(d)) == d
True
>>> digest_matches(b"hello", d), digest_matches(b"hellO", d)
(True, False)

.. versionadded:: 0.1
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "CHUNK",
    "b64url",
    "b64url_decode",
    "digest_matches",
    "sha256",
    "sha256_file",
    "sha256_stream",
]

# Large enough that hashing runs at memory speed, small enough to never matter for RSS.
CHUNK = 1 << 20


def sha256(data: bytes | bytearray | memoryview) -> bytes:
    """The raw 32-byte SHA-256 of ``data``.

    >>> sha256(b"").hex()[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).digest()


def sha256_stream(stream: BinaryIO, chunk: int = CHUNK) -> bytes:
    """SHA-256 of everything left in ``stream``, read ``chunk`` bytes at a time.

    >>> import io
    >>> sha256_stream(io.BytesIO(b"hello")) == sha256(b"hello")
    True
    """
    h = hashlib.sha256()
    while block := stream.read(chunk):
        h.update(block)
    return h.digest()


def sha256_file(path: str | Path, chunk: int = CHUNK) -> bytes:
    """SHA-256 of a file, streamed (memory stays at one chunk whatever the size)."""
    with open(path, "rb") as f:
        return sha256_stream(f, chunk)


def digest_matches(data: bytes | bytearray | memoryview, expected: bytes) -> bool:
    """Whether ``data`` hashes to ``expected``, compared in constant time."""
    return hmac.compare_digest(hashlib.sha256(data).digest(), expected)


def b64url(raw: bytes) -> str:
    """base64url without padding (RFC 7515 §2), the form kids, digests and signatures use."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; raises ``ValueError`` on anything else (strictly).

    >>> b64url_decode("AQI")
    b'\\x01\\x02'
    >>> b64url_decode("A+I")
    Traceback (most recent call last):
    ...
    ValueError: not base64url: 'A+I'
    """
    if not isinstance(text, str) or not text.isascii() or "=" in text or len(text) % 4 == 1:
        raise ValueError(f"not base64url: {text!r}")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"not base64url: {text!r}") from None
    # Reject non-canonical encodings (unused low bits set), so one value has one spelling.
    if b64url(raw) != text:
        raise ValueError(f"not base64url: {text!r}")
    return raw
