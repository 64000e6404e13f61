"""Signed URLs: an HMAC over path, content hash and expiry, with a short TTL (10 min).

The URL carries the SHA-256 of the object it points to, so a client can check what it
downloaded against what the origin signed, and a cache in between cannot swap the bytes
unnoticed. Older secrets can be kept for verification while a new one signs.

>>> from mitigate.clock import VirtualClock
>>> clock = VirtualClock()
>>> signer = UrlSigner(b"k" * 32, clock=clock)
>>> url = signer.sign("/objects/course-7.zip", bytes(32))
>>> url.split("?")[0]
'/objects/course-7.zip'
>>> signer.verify_url(url).path
'/objects/course-7.zip'
>>> clock.advance(601)
>>> signer.verify_url(url)
Traceback (most recent call last):
...
mitigate.SignedUrlError: [MITIGATE.URL.EXPIRED] /objects/course-7.zip: \
expired at 2026-01-01T00:10:00Z; request a fresh signed URL

.. versionadded:: 0.1
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError
from mitigate.integrity import errors as codes
from mitigate.integrity.digests import b64url, b64url_decode
from mitigate.integrity.errors import SignedUrlError
from mitigate.integrity.keyset import _iso

__all__ = ["DEFAULT_URL_TTL", "SignedTarget", "UrlSigner"]

# content.fm.1.9: signed URLs live 10 minutes.
DEFAULT_URL_TTL = 600.0
_PARAMS = ("sha256", "exp", "sig")
_MIN_SECRET = 32


@dataclass(frozen=True, slots=True)
class SignedTarget:
    """What a verified URL grants: ``path``, with content ``sha256``, until ``expires_at``."""

    path: str
    sha256: bytes
    expires_at: int

    @property
    def etag(self) -> str:
        """The strong ETag of the object: its content hash."""
        return f'"{b64url(self.sha256)}"'


class UrlSigner:
    """Signs and verifies URLs with HMAC-SHA256.

    ``secret`` signs; ``previous`` secrets still verify (rotate by moving the old secret
    there for one TTL).
    """

    def __init__(
        self,
        secret: bytes,
        *,
        ttl: float | timedelta = DEFAULT_URL_TTL,
        clock: Clock | None = None,
        previous: Sequence[bytes] = (),
        target: str = "signed_url",
    ) -> None:
        for s in (secret, *previous):
            if not isinstance(s, bytes) or len(s) < _MIN_SECRET:
                raise ConfigError(target, f"a URL signing secret needs >= {_MIN_SECRET} bytes")
        seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
        if not seconds > 0:
            raise ConfigError(target, f"ttl must be > 0 seconds, not {ttl!r}")
        self._secrets = (secret, *previous)
        self.ttl = seconds
        self.clock = clock or default_clock()
        self.target = target

    def sign(self, path: str, sha256: bytes, *, ttl: float | None = None) -> str:
        """A URL (path and query) for ``path`` valid for ``ttl`` seconds (default 10 min)."""
        _check_path(path)
        if len(sha256) != 32:
            raise ValueError("sha256 must be the 32-byte digest")
        seconds = self.ttl if ttl is None else float(ttl)
        exp = math.ceil(self.clock.wall() + seconds)
        sig = self._mac(self._secrets[0], path, sha256, exp)
        query = urlencode({"sha256": b64url(sha256), "exp": str(exp), "sig": b64url(sig)})
        return f"{quote(path, safe='/-._~')}?{query}"

    def verify_url(self, url: str) -> SignedTarget:
        """Verify a URL as produced by :meth:`sign` (absolute or path-only)."""
        parts = urlsplit(url)
        return self.verify(unquote(parts.path), parts.query)

    def verify(
        self, path: str, query: str | Mapping[str, str] | Iterable[tuple[str, str]]
    ) -> SignedTarget:
        """Verify ``path`` with its query; raises :class:`SignedUrlError` (answer 403)."""
        pairs = (
            parse_qsl(query, keep_blank_values=True)
            if isinstance(query, str)
            else (list(query.items()) if isinstance(query, Mapping) else list(query))
        )
        params: dict[str, str] = {}
        try:
            _check_path(path)
            for key, value in pairs:
                if key not in _PARAMS or key in params:
                    raise ValueError(f"unexpected or repeated parameter {key!r}")
                params[key] = value
            if set(params) != set(_PARAMS):
                raise ValueError(f"parameters {list(_PARAMS)} are required")
            sha = b64url_decode(params["sha256"])
            sig = b64url_decode(params["sig"])
            if len(sha) != 32 or not params["exp"].isdigit() or len(params["exp"]) > 12:
                raise ValueError("bad sha256 or exp")
            exp = int(params["exp"])
        except ValueError as exc:
            raise SignedUrlError(path[:200], f"malformed signed URL: {exc}") from None
        if not any(hmac.compare_digest(self._mac(s, path, sha, exp), sig) for s in self._secrets):
            raise SignedUrlError(path[:200], "signature does not match")
        # Checked after the MAC, so "expired" is only said about URLs we really issued.
        if self.clock.wall() >= exp:
            raise SignedUrlError(path, f"expired at {_iso(exp)}", code=codes.URL_EXPIRED)
        return SignedTarget(path, sha, exp)

    @staticmethod
    def _mac(secret: bytes, path: str, sha256: bytes, exp: int) -> bytes:
        message = f"mitigate.url.v1\n{path}\n{sha256.hex()}\n{exp}".encode()
        return hmac.new(secret, message, hashlib.sha256).digest()


def _check_path(path: str) -> None:
    if not path.startswith("/") or "?" in path or "#" in path or any(c < " " for c in path):
        raise ValueError(f"a signed path is absolute, without query or fragment: {path[:80]!r}")
    if any(part in (".", "..") for part in path.split("/")):
        raise ValueError("a signed path has no . or .. segments")
