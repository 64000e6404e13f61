"""Public keys by kid: the well-known key document, and a client cache of it.

The document lists every key a verifier may meet: its kid (an RFC 7638 thumbprint), the
raw Ed25519 public key, and the wall-clock window in which it is valid (``nbf``, ``exp``).
A :class:`KeyCache` keeps a fetched copy, refreshes it after ``max_age`` and, when it
meets an unknown kid, fetches once more before it gives up (a new key is published
before anything is signed with it, so one re-fetch is always enough).

>>> from mitigate.integrity.keyring import KeyRing
>>> from mitigate.clock import VirtualClock
>>> ring = KeyRing.generate(clock=VirtualClock())
>>> keys = KeySet.from_document(ring.document_bytes())
>>> keys.key(ring.active_kid).kid == ring.active_kid
True
>>> keys.key("nope")
Traceback (most recent call last):
...
mitigate.IntegrityError: [MITIGATE.INTEGRITY.UNKNOWN_KID] key nope: \
no such key in the key document; fetch a fresh copy of the document, or a fresh bundle

.. versionadded:: 0.1
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError
from mitigate.integrity import errors as codes
from mitigate.integrity.digests import b64url, b64url_decode
from mitigate.integrity.errors import IntegrityError

__all__ = ["KeyCache", "KeySet", "KeySource", "PublicKey", "jwk_thumbprint"]

DOCUMENT_TYPE = "mitigate.keys.v1"
# A key document is small; refuse anything that is not, before parsing it.
MAX_DOCUMENT_BYTES = 256 * 1024


def jwk_thumbprint(x: bytes) -> str:
    """The RFC 7638 thumbprint of an Ed25519 public key: the kid.

    SHA-256 over the canonical JSON of the required members, in lexicographic order,
    without whitespace, then base64url. The RFC 8037 Appendix A.3 vector:

    >>> x = b64url_decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
    >>> jwk_thumbprint(x)
    'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k'
    """
    canonical = '{"crv":"Ed25519","kty":"OKP","x":"' + b64url(x) + '"}'
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class PublicKey:
    """One verification key with its validity window (wall-clock seconds).

    ``not_after`` is ``None`` while the key signs; it is set when the key is rotated out
    (now + overlap) or revoked (now). ``revoked`` marks an emergency end (a leaked key):
    a signature it made is then tampering, not an old copy.
    """

    kid: str
    x: bytes
    not_before: float
    not_after: float | None = None
    revoked: bool = False
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.x) != 32:
            raise ValueError(f"an Ed25519 public key has 32 bytes, not {len(self.x)}")
        if jwk_thumbprint(self.x) != self.kid:
            raise ValueError(f"kid {self.kid!r} is not the thumbprint of its key")
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.x))

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's signature over ``message``."""
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def check_valid(self, at: float) -> None:
        """Raise when the key is outside its window at wall time ``at``."""
        if at < self.not_before:
            raise IntegrityError(
                f"key {self.kid}",
                f"not valid before {_iso(self.not_before)} (now {_iso(at)})",
                code=codes.KEY_NOT_YET_VALID,
                hint="check the device clock, or wait until the key is live",
            )
        if self.not_after is not None and at > self.not_after and self.revoked:
            raise IntegrityError(
                f"key {self.kid}",
                f"was revoked at {_iso(self.not_after)} (a leaked key); whoever signed "
                "with it is not the publisher",
                code=codes.KEY_REVOKED,
                hint="do not use these bytes; report the device and fetch a fresh copy",
            )
        if self.not_after is not None and at > self.not_after:
            raise IntegrityError(
                f"key {self.kid}",
                f"expired at {_iso(self.not_after)}, its overlap window after rotation "
                f"is over (now {_iso(at)})",
                code=codes.KEY_EXPIRED,
                hint="fetch a fresh copy signed with the current key",
            )

    def jwk(self) -> dict[str, Any]:
        """The key as a JWK with its window, one entry of the key document."""
        out: dict[str, Any] = {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url(self.x),
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
            "nbf": self.not_before,
        }
        if self.not_after is not None:
            out["exp"] = self.not_after
        if self.revoked:
            out["revoked"] = True
        return out

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> PublicKey:
        """Read one document entry; raises ``ValueError`` on anything unexpected."""
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ValueError("only Ed25519 (kty OKP) keys are accepted")
        kid, x = jwk.get("kid"), jwk.get("x")
        if not isinstance(kid, str) or not isinstance(x, str):
            raise ValueError("kid and x must be strings")
        return cls(
            kid=kid,
            x=b64url_decode(x),
            not_before=_number(jwk.get("nbf"), "nbf"),
            not_after=None if jwk.get("exp") is None else _number(jwk.get("exp"), "exp"),
            revoked=_flag(jwk.get("revoked", False), "revoked"),
        )


@runtime_checkable
class KeySource(Protocol):
    """Where a verifier finds the public key for a kid (raises UNKNOWN_KID when absent)."""

    def key(self, kid: str) -> PublicKey: ...


class KeySet:
    """An immutable kid -> :class:`PublicKey` map; the parsed key document."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Mapping[str, PublicKey] | None = None) -> None:
        self._keys: dict[str, PublicKey] = dict(keys or {})

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[PublicKey]:
        return iter(self._keys.values())

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __repr__(self) -> str:
        return f"KeySet({sorted(self._keys)})"

    def key(self, kid: str) -> PublicKey:
        found = self._keys.get(kid)
        if found is None:
            raise _unknown(kid)
        return found

    def kids(self) -> list[str]:
        return sorted(self._keys)

    def document(self) -> dict[str, Any]:
        """The key document as a JSON-ready dict (keys sorted by not-before)."""
        ordered = sorted(self._keys.values(), key=lambda k: (k.not_before, k.kid))
        return {"typ": DOCUMENT_TYPE, "keys": [k.jwk() for k in ordered]}

    def document_bytes(self) -> bytes:
        return json.dumps(self.document(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_document(cls, document: bytes | str | Mapping[str, Any]) -> KeySet:
        """Parse a key document; raises IntegrityError(MALFORMED) on anything unexpected."""
        try:
            if isinstance(document, bytes | str):
                if len(document) > MAX_DOCUMENT_BYTES:
                    raise ValueError(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
                document = json.loads(document)
            if not isinstance(document, Mapping) or document.get("typ") != DOCUMENT_TYPE:
                raise ValueError(f"not a {DOCUMENT_TYPE} document")
            entries = document.get("keys")
            if not isinstance(entries, list):
                raise ValueError("keys must be a list")
            keys: dict[str, PublicKey] = {}
            for entry in entries:
                if not isinstance(entry, Mapping):
                    raise ValueError("each key must be an object")
                key = PublicKey.from_jwk(entry)
                if key.kid in keys:
                    raise ValueError(f"kid {key.kid} listed twice")
                keys[key.kid] = key
        except (ValueError, TypeError, RecursionError) as exc:
            raise IntegrityError(
                "key document",
                f"unreadable: {exc}",
                code=codes.MALFORMED,
                hint="keep the last good document and alert; never trust a partial one",
            ) from None
        return cls(keys)


class KeyCache:
    """A client's copy of the key document: refreshed after ``max_age`` seconds, and
    fetched once more when a kid is unknown (such re-fetches at most once per
    ``min_refetch`` seconds).

    ``fetch`` returns the document's bytes (sync); ``afetch`` is the async twin. A failed
    refresh keeps the copy it has; an unknown kid that is still unknown after the
    re-fetch raises UNKNOWN_KID.

    >>> from mitigate.integrity.keyring import KeyRing
    >>> from mitigate.clock import VirtualClock
    >>> clock = VirtualClock()
    >>> ring = KeyRing.generate(clock=clock)
    >>> fetches = []
    >>> def fetch() -> bytes:
    ...     fetches.append(clock.now())
    ...     return ring.document_bytes()
    >>> cache = KeyCache(fetch, clock=clock)
    >>> old = cache.key(ring.active_kid).kid
    >>> new = ring.rotate()
    >>> cache.key(new).kid == new, len(fetches)   # unknown kid: one re-fetch finds it
    (True, 2)

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        fetch: Callable[[], bytes] | None = None,
        *,
        afetch: Callable[[], Awaitable[bytes]] | None = None,
        clock: Clock | None = None,
        max_age: float = 3600.0,
        min_refetch: float = 10.0,
        initial: KeySet | None = None,
    ) -> None:
        if fetch is None and afetch is None:
            raise ConfigError("key cache", "give fetch or afetch", code="MITIGATE.CONFIG.INVALID")
        if max_age <= 0 or min_refetch < 0:
            raise ConfigError("key cache", "max_age must be > 0 and min_refetch >= 0")
        self._fetch = fetch
        self._afetch = afetch
        self._clock = clock or default_clock()
        self.max_age = float(max_age)
        self.min_refetch = float(min_refetch)
        self._keys = initial
        self._fetched_at: float | None = None if initial is None else self._clock.now()
        self._miss_fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetch_count = 0

    @property
    def keys(self) -> KeySet | None:
        return self._keys

    # -- sync ---------------------------------------------------------------------
    def key(self, kid: str) -> PublicKey:
        if self._fetch is None:  # async-only cache: answer from what akey() fetched
            return self._lookup(kid)
        if self._stale():
            self._refresh_sync()
        keys = self._keys
        if keys is not None and kid in keys:
            return keys.key(kid)
        if self._may_refetch():
            self._refresh_sync()
        return self._lookup(kid)

    def refresh(self) -> KeySet:
        self._refresh_sync()
        return self._require()

    # -- async --------------------------------------------------------------------
    async def akey(self, kid: str) -> PublicKey:
        if self._stale():
            await self._refresh_async()
        keys = self._keys
        if keys is not None and kid in keys:
            return keys.key(kid)
        if self._may_refetch():
            await self._refresh_async()
        return self._lookup(kid)

    async def arefresh(self) -> KeySet:
        await self._refresh_async()
        return self._require()

    # -- internals ----------------------------------------------------------------
    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock.now() - self._fetched_at >= self.max_age

    def _may_refetch(self) -> bool:
        # One re-fetch per unknown kid, but at most one per min_refetch seconds, so a
        # stream of forged kids cannot turn clients into a flood on the key endpoint.
        now = self._clock.now()
        if self._miss_fetched_at is not None and now - self._miss_fetched_at < self.min_refetch:
            return False
        self._miss_fetched_at = now
        return True

    def _lookup(self, kid: str) -> PublicKey:
        if self._keys is None:
            raise _unknown(kid)
        return self._keys.key(kid)

    def _require(self) -> KeySet:
        if self._keys is None:
            raise IntegrityError("key document", "never fetched", code=codes.UNKNOWN_KID)
        return self._keys

    def _install(self, raw: bytes) -> None:
        keys = KeySet.from_document(raw)
        with self._lock:
            self._keys = keys
            self._fetched_at = self._clock.now()
            self.fetch_count += 1

    def _refresh_sync(self) -> None:
        if self._fetch is None:
            raise ConfigError("key cache", "no sync fetch given; use akey() with afetch")
        try:
            raw = self._fetch()
        except Exception:
            if self._keys is None:
                raise
            self._retry_later()
            return
        self._install(raw)

    async def _refresh_async(self) -> None:
        if self._afetch is None:
            raise ConfigError("key cache", "no async fetch given; use key() with fetch")
        try:
            raw = await self._afetch()
        except Exception:
            if self._keys is None:
                raise
            self._retry_later()
            return
        self._install(raw)

    def _retry_later(self) -> None:
        # A failed refresh keeps the copy we have and tries again after min_refetch.
        self._fetched_at = self._clock.now() - self.max_age + self.min_refetch


def _unknown(kid: str) -> IntegrityError:
    shown = kid if len(kid) <= 64 else kid[:61] + "..."
    return IntegrityError(
        f"key {shown}",
        "no such key in the key document",
        code=codes.UNKNOWN_KID,
        hint="fetch a fresh copy of the document, or a fresh bundle",
    )


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    return float(value)


def _iso(wall: float) -> str:
    try:
        moment = _dt.datetime.fromtimestamp(wall, tz=_dt.UTC)
    except (OverflowError, OSError, ValueError):
        return repr(wall)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
