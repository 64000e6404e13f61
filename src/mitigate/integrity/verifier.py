"""The device-side bundle verifier: check on arrival and on mount, keep the last known good.

On arrival a bundle is checked (hash, signature, key window, expiry, version). When it
passes it becomes the last-known-good copy and its version the floor for the next one;
the floor also keeps the content digest accepted at that version, so dropping a tampered
copy never reopens its version to other bytes.
When any check fails: a :class:`~mitigate.TamperDetected` event, the tamper is reported
(``on_tamper``, e.g. queued for the next sync), the last-known-good copy is served if it
still verifies, and the verdict says a fresh fetch is advised. ``mount()`` re-checks the
stored copy before playback and unmounts it when its bytes changed on disk.

>>> from mitigate.clock import VirtualClock
>>> from mitigate.integrity.keyring import KeyRing
>>> from mitigate.integrity.envelope import EnvelopeSigner
>>> clock = VirtualClock()
>>> ring = KeyRing.generate(clock=clock)
>>> signer = EnvelopeSigner(ring)
>>> verifier = BundleVerifier(ring, clock=clock, device="tablet-1")
>>> v1 = signer.sign_bundle("course", b"v1 bytes", version=1)
>>> verifier.accept("course", v1.token, b"v1 bytes").source
'fresh'
>>> v2 = signer.sign_bundle("course", b"v2 bytes", version=2)
>>> verdict = verifier.accept("course", v2.token, b"v2 bytez")   # flipped on the way
>>> verdict.source, verdict.content, verdict.refetch, verdict.error.code
('last_known_good', b'v1 bytes', True, 'MITIGATE.INTEGRITY.DIGEST_MISMATCH')

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from mitigate.clock import Clock, default_clock
from mitigate.integrity import _jws
from mitigate.integrity import errors as codes
from mitigate.integrity.digests import sha256 as _sha256
from mitigate.integrity.envelope import (
    BUNDLE_TYPE,
    DEFAULT_SKEW,
    BundleEnvelope,
    read_bundle_envelope,
    verify_bundle,
)
from mitigate.integrity.errors import IntegrityError
from mitigate.integrity.keyset import KeySource
from mitigate.observe.events import FallbackUsed, TamperDetected
from mitigate.observe.observers import Observer, Observers

__all__ = [
    "BundleStore",
    "BundleVerifier",
    "FileBundleStore",
    "MemoryBundleStore",
    "StoredBundle",
    "TamperReport",
    "Verdict",
]

Source = Literal["fresh", "last_known_good", "none"]

# Failures that say the bytes or the envelope are not what was signed. Expiry and clock
# problems are not tampering: the bundle is refused and refetched, but not reported.
TAMPER_CODES = frozenset(
    {
        codes.DIGEST_MISMATCH,
        codes.SIGNATURE_INVALID,
        codes.MALFORMED,
        codes.ROLLBACK,
        codes.SUBJECT_MISMATCH,
        codes.UNKNOWN_KID,
        codes.KEY_REVOKED,
    }
)


@dataclass(frozen=True, slots=True)
class StoredBundle:
    envelope_token: str
    content: bytes


class BundleStore(Protocol):
    """Where the verifier keeps last-known-good copies and the version floor per bundle.

    The floor is the highest version accepted and the content digest accepted at it; it
    outlives :meth:`drop` (rollback protection outlives the copy).

    .. versionchanged:: 0.1
       ``put`` takes the accepted digest; ``floor`` returns it with the version.
    """

    def get(self, bundle: str) -> StoredBundle | None: ...
    def put(self, bundle: str, stored: StoredBundle, version: int, digest: bytes) -> None: ...
    def drop(self, bundle: str) -> None: ...
    def highest_version(self, bundle: str) -> int | None: ...
    def floor(self, bundle: str) -> tuple[int, bytes | None] | None: ...


class MemoryBundleStore:
    """An in-process :class:`BundleStore` (tests, simulated devices)."""

    def __init__(self) -> None:
        self._bundles: dict[str, StoredBundle] = {}
        self._floors: dict[str, tuple[int, bytes | None]] = {}

    def get(self, bundle: str) -> StoredBundle | None:
        return self._bundles.get(bundle)

    def put(self, bundle: str, stored: StoredBundle, version: int, digest: bytes) -> None:
        self._bundles[bundle] = stored
        self._floors[bundle] = _raised(self._floors.get(bundle), version, digest)

    def drop(self, bundle: str) -> None:
        # The version floor survives an unmount: rollback protection outlives the copy.
        self._bundles.pop(bundle, None)

    def highest_version(self, bundle: str) -> int | None:
        floor = self._floors.get(bundle)
        return None if floor is None else floor[0]

    def floor(self, bundle: str) -> tuple[int, bytes | None] | None:
        return self._floors.get(bundle)

    def tamper_with(self, bundle: str, content: bytes) -> None:
        """Replace stored bytes behind the verifier's back (for tamper experiments)."""
        stored = self._bundles[bundle]
        self._bundles[bundle] = StoredBundle(stored.envelope_token, content)


class FileBundleStore:
    """A :class:`BundleStore` in a directory: ``<id>.bundle``, ``<id>.envelope``,
    ``versions.json``; each file replaced atomically."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _path(self, bundle: str, suffix: str) -> Path:
        # Bundle ids become file names: hash them so no id can escape the directory.
        return self.directory / f"{_sha256(bundle.encode()).hex()[:32]}{suffix}"

    def get(self, bundle: str) -> StoredBundle | None:
        try:
            token = self._path(bundle, ".envelope").read_text("ascii")
            content = self._path(bundle, ".bundle").read_bytes()
        except FileNotFoundError:
            return None
        return StoredBundle(token, content)

    def put(self, bundle: str, stored: StoredBundle, version: int, digest: bytes) -> None:
        with self._lock:
            _atomic_write(self._path(bundle, ".bundle"), stored.content)
            _atomic_write(self._path(bundle, ".envelope"), stored.envelope_token.encode("ascii"))
            floors = self._floors()
            floors[bundle] = _raised(floors.get(bundle), version, digest)
            document = {
                name: [ver, None if dig is None else dig.hex()]
                for name, (ver, dig) in floors.items()
            }
            _atomic_write(self.directory / "versions.json", json.dumps(document).encode())

    def drop(self, bundle: str) -> None:
        with self._lock:
            for suffix in (".bundle", ".envelope"):
                self._path(bundle, suffix).unlink(missing_ok=True)

    def highest_version(self, bundle: str) -> int | None:
        floor = self._floors().get(bundle)
        return None if floor is None else floor[0]

    def floor(self, bundle: str) -> tuple[int, bytes | None] | None:
        return self._floors().get(bundle)

    def _floors(self) -> dict[str, tuple[int, bytes | None]]:
        try:
            data = json.loads((self.directory / "versions.json").read_bytes())
        except FileNotFoundError:
            return {}
        floors: dict[str, tuple[int, bytes | None]] = {}
        for name, value in data.items():
            # an older file holds only the version number
            version, digest = (value, None) if isinstance(value, int) else value
            floors[str(name)] = (int(version), None if digest is None else bytes.fromhex(digest))
        return floors


def _raised(
    floor: tuple[int, bytes | None] | None, version: int, digest: bytes
) -> tuple[int, bytes | None]:
    # The floor only rises; the digest is the one accepted at the floor's version.
    if floor is None or version >= floor[0]:
        return (version, digest)
    return floor


@dataclass(frozen=True, slots=True)
class TamperReport:
    """What a device sends on its next sync; ``report_id`` makes re-sends idempotent."""

    report_id: str
    device: str
    bundle: str
    reason: str
    kid: str
    at: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to play: the fresh bundle, the last-known-good one, or nothing."""

    bundle: str
    source: Source
    content: bytes | None
    envelope: BundleEnvelope | None
    error: IntegrityError | None = None
    refetch: bool = False

    @property
    def ok(self) -> bool:
        return self.source == "fresh"


class BundleVerifier:
    """Verifies bundles on a device and falls back to the last known good copy.

    ``keys`` is any key source (a :class:`~mitigate.KeyCache` on a device); ``on_tamper``
    receives a :class:`TamperReport` for each failure (queue it for the next sync).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        store: BundleStore | None = None,
        clock: Clock | None = None,
        device: str = "",
        observers: Iterable[Observer] = (),
        on_tamper: Callable[[TamperReport], None] | None = None,
        skew: float = DEFAULT_SKEW,
        target: str = "bundle.verify",
    ) -> None:
        self.keys = keys
        self.store: BundleStore = store if store is not None else MemoryBundleStore()
        self.clock = clock or default_clock()
        self.device = device
        self.observers = observers if isinstance(observers, Observers) else Observers(observers)
        self.on_tamper = on_tamper
        self.skew = skew
        self.target = target
        self._seq = 0

    def accept(self, bundle: str, token: str | bytes, content: bytes) -> Verdict:
        """Check a bundle that just arrived; keep it when it verifies."""
        floor = self.store.floor(bundle)
        try:
            env = verify_bundle(
                token,
                content,
                self.keys,
                now=self.clock.wall(),
                bundle=bundle,
                min_version=None if floor is None else floor[0],
                skew=self.skew,
            )
            if floor is not None and env.version == floor[0]:
                self._same_version_same_bytes(bundle, env, floor[1])
        except IntegrityError as error:
            return self._failed(bundle, error, kid=_kid_of(token))
        self.store.put(bundle, StoredBundle(env.token, bytes(content)), env.version, env.sha256)
        return Verdict(bundle, "fresh", bytes(content), env)

    def mount(self, bundle: str) -> Verdict:
        """Re-check the stored copy before playback; unmount it when it no longer verifies."""
        stored = self.store.get(bundle)
        if stored is None:
            return Verdict(bundle, "none", None, None, refetch=True)
        try:
            env = verify_bundle(
                stored.envelope_token,
                stored.content,
                self.keys,
                now=self.clock.wall(),
                bundle=bundle,
                skew=self.skew,
            )
        except IntegrityError as error:
            self.store.drop(bundle)
            self._report(bundle, error, kid=_kid_of(stored.envelope_token))
            return Verdict(bundle, "none", None, None, error=error, refetch=True)
        return Verdict(bundle, "fresh", stored.content, env)

    async def aaccept(self, bundle: str, token: str | bytes, content: bytes) -> Verdict:
        """:meth:`accept` for async key sources (a :class:`~mitigate.KeyCache` with
        ``afetch``): the key is fetched first, then the same checks run."""
        await self._warm(_kid_of(token))
        return self.accept(bundle, token, content)

    async def amount(self, bundle: str) -> Verdict:
        """The async twin of :meth:`mount`."""
        stored = self.store.get(bundle)
        if stored is not None:
            await self._warm(_kid_of(stored.envelope_token))
        return self.mount(bundle)

    # -- internals ----------------------------------------------------------------
    async def _warm(self, kid: str) -> None:
        akey = getattr(self.keys, "akey", None)
        if kid and akey is not None:
            # An unknown kid is reported by the checks themselves.
            with contextlib.suppress(IntegrityError):
                await akey(kid)

    def _same_version_same_bytes(
        self, bundle: str, env: BundleEnvelope, accepted: bytes | None
    ) -> None:
        if accepted is None:
            # a floor written before digests were kept: compare with the stored copy
            stored = self.store.get(bundle)
            if stored is None:
                return
            accepted = read_bundle_envelope(stored.envelope_token).sha256
        # The same version with other bytes is a replay of a different signed bundle
        # under an old number: refuse it like a rollback (even once the copy is gone).
        if accepted != env.sha256:
            raise IntegrityError(
                f"bundle {bundle}",
                f"version {env.version} already accepted with other content",
                code=codes.ROLLBACK,
                hint="publish a higher version",
            )

    def _failed(self, bundle: str, error: IntegrityError, *, kid: str) -> Verdict:
        self._report(bundle, error, kid=kid)
        fallback = self.mount(bundle) if self.store.get(bundle) is not None else None
        if fallback is not None and fallback.source == "fresh":
            if self.observers:
                self.observers.emit(
                    FallbackUsed(
                        target=self.target,
                        at=self.clock.now(),
                        reason=error.code,
                        source="last_known_good",
                    )
                )
            return Verdict(
                bundle, "last_known_good", fallback.content, fallback.envelope, error, True
            )
        return Verdict(bundle, "none", None, None, error=error, refetch=True)

    def _report(self, bundle: str, error: IntegrityError, *, kid: str) -> None:
        if error.code not in TAMPER_CODES:
            return
        if self.observers:
            self.observers.emit(
                TamperDetected(
                    target=self.target,
                    at=self.clock.now(),
                    error=error,
                    subject=bundle,
                    reason=error.code,
                    device=self.device,
                    kid=kid,
                )
            )
        if self.on_tamper is not None:
            self._seq += 1
            report_id = f"{self.device}:{bundle}:{self.clock.wall():.3f}:{self._seq}"
            self.on_tamper(
                TamperReport(report_id, self.device, bundle, error.code, kid, self.clock.wall())
            )


def _kid_of(token: str | bytes) -> str:
    try:
        return _jws.parse(token, BUNDLE_TYPE, "bundle").kid
    except IntegrityError:
        return ""


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
