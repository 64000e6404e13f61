"""The signing key ring: Ed25519 keys named by thumbprint, rotated with an overlap window.

Rotation has two steps, so no device ever meets a signature before it has the key:
``publish_next()`` adds a new key to the key document without signing with it;
``activate(kid)`` switches signing to it and schedules the previous key to expire after
the overlap window (default 2 days), during which bundles signed with it still verify.
``rotate()`` does both at once. Retiring a key inside its window is refused with
``MITIGATE.KEYRING.OVERLAP``. An emergency rotation (a leaked key) ends the old key's
window at once.

>>> from mitigate.clock import VirtualClock
>>> clock = VirtualClock()
>>> ring = KeyRing.generate(clock=clock)
>>> old = ring.active_kid
>>> new = ring.rotate()
>>> sorted(ring.keyset().kids()) == sorted([old, new])
True
>>> clock.advance(86_400)              # one day later: still inside the 2-day overlap
>>> ring.retire(old)
Traceback (most recent call last):
...
mitigate.KeyRingError: [MITIGATE.KEYRING.OVERLAP] key ...: \
still inside its overlap window until 2026-01-03T00:00:00Z; retiring it now would orphan \
bundles signed with it; wait, or re-sign them first
>>> clock.advance(86_401)
>>> ring.retire(old)
>>> ring.keyset().kids() == [new]
True

.. versionadded:: 0.1
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError
from mitigate.integrity import errors as codes
from mitigate.integrity.digests import b64url, b64url_decode
from mitigate.integrity.errors import KeyRingError
from mitigate.integrity.keyset import KeySet, PublicKey, _iso, jwk_thumbprint
from mitigate.observe.events import KeyRotated
from mitigate.observe.observers import Observer, Observers

__all__ = ["DEFAULT_OVERLAP", "KeyRing", "Signature"]

DAY = 86_400.0
# content.fm.1.6: old signatures stay verifiable for at least two days after rotation.
DEFAULT_OVERLAP = 2 * DAY
RING_TYPE = "mitigate.keyring.v1"


@dataclass(frozen=True, slots=True)
class Signature:
    """A signature and the kid of the key that made it."""

    kid: str
    value: bytes


@dataclass(frozen=True, slots=True)
class _Slot:
    public: PublicKey
    private: Ed25519PrivateKey


class KeyRing:
    """Private Ed25519 keys (the local stand-in for a KMS) and their public document.

    Times in the document are wall-clock seconds from the ring's clock, because the
    document leaves the process.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        overlap: float | timedelta = DEFAULT_OVERLAP,
        observers: Iterable[Observer] = (),
        target: str = "keyring",
    ) -> None:
        overlap_s = overlap.total_seconds() if isinstance(overlap, timedelta) else float(overlap)
        if not overlap_s >= 0:
            raise ConfigError(target, f"overlap must be >= 0 seconds, not {overlap!r}")
        self.clock = clock or default_clock()
        self.overlap = overlap_s
        self.target = target
        self.observers = observers if isinstance(observers, Observers) else Observers(observers)
        self._slots: dict[str, _Slot] = {}
        self._active: str | None = None
        self._lock = threading.RLock()

    @classmethod
    def generate(
        cls,
        *,
        clock: Clock | None = None,
        overlap: float | timedelta = DEFAULT_OVERLAP,
        observers: Iterable[Observer] = (),
        target: str = "keyring",
    ) -> KeyRing:
        """A ring with one fresh key, published and active."""
        ring = cls(clock=clock, overlap=overlap, observers=observers, target=target)
        ring.activate(ring.publish_next())
        return ring

    # -- reading ------------------------------------------------------------------
    @property
    def active_kid(self) -> str:
        if self._active is None:
            raise KeyRingError(self.target, "no active signing key", hint="call rotate() first")
        return self._active

    def __repr__(self) -> str:
        return f"KeyRing(active={self._active!r}, kids={sorted(self._slots)})"

    def key(self, kid: str) -> PublicKey:
        """The public key for ``kid`` (a KeyRing is also a key source for verifiers)."""
        return self.keyset().key(kid)

    def keyset(self) -> KeySet:
        with self._lock:
            return KeySet({kid: slot.public for kid, slot in self._slots.items()})

    def document(self) -> dict[str, Any]:
        """The well-known key document: kid -> public key, not-before, not-after."""
        return self.keyset().document()

    def document_bytes(self) -> bytes:
        return self.keyset().document_bytes()

    def scheduled_for_removal(self) -> dict[str, float]:
        """kid -> wall time its window ends, for every key rotated out but not retired."""
        with self._lock:
            return {
                kid: slot.public.not_after
                for kid, slot in self._slots.items()
                if slot.public.not_after is not None
            }

    # -- rotating -----------------------------------------------------------------
    def publish_next(self) -> str:
        """Generate a key and publish it (valid from now) without signing with it yet."""
        private = Ed25519PrivateKey.generate()
        return self._add(private, not_before=self.clock.wall())

    def activate(self, kid: str) -> None:
        """Sign with ``kid`` from now on; the previous key stays valid for ``overlap``."""
        self._switch(kid, emergency=False)

    def rotate(self, *, emergency: bool = False) -> str:
        """Publish a new key and sign with it; returns its kid.

        ``emergency=True`` (a leaked key, comms.fm.10) ends the old key's window now, so
        everything it signed stops verifying at once.
        """
        kid = self.publish_next()
        self._switch(kid, emergency=emergency)
        return kid

    def revoke(self, kid: str) -> None:
        """End ``kid``'s window now (a leak); rotates first when it is the active key."""
        with self._lock:
            if kid == self._active:
                self.rotate(emergency=True)
                return
            slot = self._slot(kid)
            now = self.clock.wall()
            end = slot.public.not_after
            if end is None or end > now or not slot.public.revoked:
                ended = now if end is None else min(end, now)
                self._slots[kid] = _Slot(
                    replace(slot.public, not_after=ended, revoked=True), slot.private
                )

    def retire(self, kid: str) -> None:
        """Remove ``kid`` from the ring and its document, once its window is over."""
        with self._lock:
            slot = self._slot(kid)
            if kid == self._active:
                raise KeyRingError(
                    f"key {kid}",
                    "is the active signing key",
                    code=codes.RETIRE_ACTIVE,
                    hint="rotate to a new key first",
                )
            end = slot.public.not_after
            now = self.clock.wall()
            if end is not None and now <= end:
                raise KeyRingError(
                    f"key {kid}",
                    f"still inside its overlap window until {_iso(end)}; retiring it now "
                    "would orphan bundles signed with it",
                    code=codes.RETIRE_IN_OVERLAP,
                    hint="wait, or re-sign them first",
                )
            # (A published key that never signed has no window: withdrawing it orphans nothing.)
            del self._slots[kid]

    # -- signing ------------------------------------------------------------------
    def sign(self, message: bytes) -> Signature:
        """Sign ``message`` with the active key."""
        with self._lock:
            kid = self.active_kid
            private = self._slots[kid].private
        return Signature(kid, private.sign(message))

    # -- persistence --------------------------------------------------------------
    def to_json(self) -> bytes:
        """The ring with its PRIVATE keys, for the local key store (keep it secret)."""
        with self._lock:
            keys = []
            for slot in self._slots.values():
                entry = slot.public.jwk()
                entry["d"] = b64url(slot.private.private_bytes_raw())
                keys.append(entry)
            return json.dumps(
                {"typ": RING_TYPE, "active": self._active, "keys": keys}, sort_keys=True
            ).encode()

    @classmethod
    def from_json(
        cls,
        raw: bytes | str,
        *,
        clock: Clock | None = None,
        overlap: float | timedelta = DEFAULT_OVERLAP,
        observers: Iterable[Observer] = (),
        target: str = "keyring",
    ) -> KeyRing:
        data = json.loads(raw)
        if not isinstance(data, Mapping) or data.get("typ") != RING_TYPE:
            raise ConfigError(target, f"not a {RING_TYPE} document")
        ring = cls(clock=clock, overlap=overlap, observers=observers, target=target)
        for entry in data["keys"]:
            public = PublicKey.from_jwk(entry)
            private = Ed25519PrivateKey.from_private_bytes(b64url_decode(entry["d"]))
            if _raw_public(private) != public.x:
                raise ConfigError(target, f"private key of {public.kid} does not match its kid")
            ring._slots[public.kid] = _Slot(public, private)
        active = data.get("active")
        if active is not None and active not in ring._slots:
            raise ConfigError(target, f"active kid {active} is not in the ring")
        ring._active = active
        return ring

    def save(self, path: str | Path) -> None:
        """Write the ring to ``path`` (mode 0600, replaced atomically)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> KeyRing:
        return cls.from_json(Path(path).read_bytes(), **kwargs)

    # -- internals ----------------------------------------------------------------
    def _add(self, private: Ed25519PrivateKey, *, not_before: float) -> str:
        x = _raw_public(private)
        kid = jwk_thumbprint(x)
        with self._lock:
            self._slots[kid] = _Slot(PublicKey(kid=kid, x=x, not_before=not_before), private)
        return kid

    def _slot(self, kid: str) -> _Slot:
        slot = self._slots.get(kid)
        if slot is None:
            raise KeyRingError(
                f"key {kid}", "is not in the ring", code=codes.KEYRING_UNKNOWN_KID, hint=""
            )
        return slot

    def _switch(self, kid: str, *, emergency: bool) -> None:
        with self._lock:
            slot = self._slot(kid)
            now = self.clock.wall()
            if slot.public.not_after is not None:
                raise KeyRingError(
                    f"key {kid}",
                    "was rotated out or revoked and cannot sign again",
                    code=codes.ROTATED_OUT,
                    hint="publish a new key with publish_next()",
                )
            previous = self._active
            if previous is not None and previous != kid:
                old = self._slots[previous]
                end = now if emergency else now + self.overlap
                public = replace(old.public, not_after=end, revoked=emergency)
                self._slots[previous] = _Slot(public, old.private)
            self._active = kid
        if self.observers:
            self.observers.emit(
                KeyRotated(
                    target=self.target,
                    at=self.clock.now(),
                    kid=kid,
                    previous_kid=previous or "",
                    emergency=emergency,
                )
            )


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
