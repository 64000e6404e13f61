"""Resumable download of a signed URL: Range on resume, renew on 403, re-hash at the end.

Bytes go to ``<dest>.part``. After a cut connection the next request asks for
``Range: bytes=<have>-`` with ``If-Range`` set to the object's strong ETag (its hash, taken
from the URL), so the server either continues (206) or, if the object changed, sends it
whole (200) and the client starts over. A 403 (expired URL) asks ``renew`` for a fresh
URL and resumes from where it was. The finished file is hashed again and must equal the
hash in the URL; otherwise it is deleted, a :class:`~mitigate.TamperDetected` event is
sent and :class:`~mitigate.IntegrityError` (``DIGEST_MISMATCH``) is raised.

.. versionadded:: 0.1
"""

from __future__ import annotations

import enum
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl, urlsplit

import httpx

from mitigate.clock import Clock, default_clock
from mitigate.integrity import errors as codes
from mitigate.integrity.digests import b64url, b64url_decode, sha256_file
from mitigate.integrity.errors import IntegrityError, SignedUrlError
from mitigate.observe.events import TamperDetected
from mitigate.observe.observers import Observer, Observers

__all__ = ["DownloadResult", "adownload", "download"]

DEFAULT_BACKOFF = (0.0, 0.5, 2.0, 5.0)


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """A finished, verified download and what it took."""

    path: Path
    sha256: bytes
    size: int
    bytes_received: int
    attempts: int
    resumes: int
    renewals: int
    restarts: int


class _Action(enum.Enum):
    APPEND = "append"  # 206 from where we are: stream and append
    RESTART = "restart"  # 200: the whole object again, truncate first
    RENEW = "renew"  # 403: get a fresh URL
    DONE = "done"  # 416 and we already hold every byte
    FAIL = "fail"  # anything else: count an attempt and back off


class _Session:
    """The decisions of one download, shared by the sync and async loops."""

    def __init__(
        self,
        url: str,
        dest: Path,
        sha256: bytes | None,
        *,
        max_attempts: int,
        max_renewals: int,
        backoff: Sequence[float],
        clock: Clock,
        observers: Observers,
        target: str,
    ) -> None:
        self.url = url
        self.dest = dest
        self.part = dest.with_name(dest.name + ".part")
        self.expected = sha256 if sha256 is not None else _hash_in_url(url)
        self.etag = f'"{b64url(self.expected)}"'
        self.max_attempts = max_attempts
        self.max_renewals = max_renewals
        self.backoff = tuple(backoff) or (0.0,)
        self.clock = clock
        self.observers = observers
        self.target = target
        self.total: int | None = None
        self.attempts = self.resumes = self.renewals = self.restarts = 0
        self.received = 0
        self.last_error: BaseException | None = None

    def have(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def request_headers(self) -> dict[str, str]:
        have = self.have()
        if have == 0:
            return {}
        return {"range": f"bytes={have}-", "if-range": self.etag}

    def decide(self, response: httpx.Response) -> _Action:
        status = response.status_code
        if status == 206:
            start, total = _content_range(response.headers.get("content-range", ""))
            if total is None or start not in (0, self.have()):
                return _Action.FAIL
            self.total = total
            if start == 0 and self.have():
                self.restarts += 1
                return _Action.RESTART
            if start:
                self.resumes += 1
            return _Action.APPEND
        if status == 200:
            length = response.headers.get("content-length")
            self.total = int(length) if length and length.isdigit() else None
            if self.have():
                self.restarts += 1
            return _Action.RESTART
        if status == 403:
            return _Action.RENEW
        if status == 416:
            _, total = _content_range(response.headers.get("content-range", ""))
            if total is not None and total == self.have():
                self.total = total
                return _Action.DONE
            self.part.unlink(missing_ok=True)
            return _Action.FAIL
        self.last_error = httpx.HTTPStatusError(
            f"HTTP {status}", request=response.request, response=response
        )
        return _Action.FAIL

    def open_part(self, action: _Action) -> BinaryIO:
        return open(self.part, "ab" if action is _Action.APPEND else "wb")

    def complete(self) -> bool:
        return self.total is not None and self.have() == self.total

    def renew_allowed(self, status_body: bytes) -> None:
        if self.renewals >= self.max_renewals:
            raise SignedUrlError(
                self.target,
                f"URL refused after {self.renewals} renewals: {status_body[:200]!r}",
                code=codes.URL_EXPIRED,
            )
        self.renewals += 1

    def failed(self, error: BaseException | None) -> float:
        """Count a failed attempt; the delay before the next one (raises when out)."""
        if error is not None:
            self.last_error = error
        self.attempts += 1
        if self.attempts >= self.max_attempts:
            raise IntegrityError(
                self.target,
                f"download failed after {self.attempts} attempts: {self.last_error!r}",
                code="MITIGATE.INTEGRITY.DOWNLOAD_FAILED",
                hint="check the origin and the network; partial bytes are kept for resuming",
            ) from self.last_error
        return self.backoff[min(self.attempts - 1, len(self.backoff) - 1)]

    def finish(self) -> DownloadResult:
        digest = sha256_file(self.part)
        if digest != self.expected:
            self.part.unlink(missing_ok=True)
            error = IntegrityError(
                self.target,
                "downloaded bytes do not hash to the value in the signed URL",
                code=codes.DIGEST_MISMATCH,
            )
            if self.observers:
                self.observers.emit(
                    TamperDetected(
                        target=self.target,
                        at=self.clock.now(),
                        error=error,
                        subject=urlsplit(self.url).path,
                        reason=codes.DIGEST_MISMATCH,
                    )
                )
            raise error
        size = self.have()
        os.replace(self.part, self.dest)
        return DownloadResult(
            self.dest,
            digest,
            size,
            self.received,
            self.attempts + 1,
            self.resumes,
            self.renewals,
            self.restarts,
        )


async def adownload(
    url: str,
    dest: str | Path,
    *,
    client: httpx.AsyncClient,
    renew: Callable[[], Awaitable[str]] | None = None,
    sha256: bytes | None = None,
    max_attempts: int = 8,
    max_renewals: int = 3,
    backoff: Sequence[float] = DEFAULT_BACKOFF,
    clock: Clock | None = None,
    observers: Iterable[Observer] = (),
    target: str = "objects.download",
) -> DownloadResult:
    """Download ``url`` to ``dest`` with an :class:`httpx.AsyncClient` (see module text)."""
    s = _session(url, dest, sha256, max_attempts, max_renewals, backoff, clock, observers, target)
    while True:
        try:
            async with client.stream("GET", s.url, headers=s.request_headers()) as response:
                action = s.decide(response)
                if action is _Action.RENEW:
                    s.renew_allowed(await response.aread())
                    if renew is None:
                        raise SignedUrlError(target, "URL refused (403) and no renew given")
                    s.url = await renew()
                    continue
                if action is _Action.APPEND or action is _Action.RESTART:
                    with s.open_part(action) as f:
                        async for block in response.aiter_bytes():
                            f.write(block)
                            s.received += len(block)
                    if s.complete():
                        return s.finish()
                    delay = s.failed(None)
                elif action is _Action.DONE:
                    return s.finish()
                else:
                    delay = s.failed(None)
        except httpx.TransportError as exc:
            delay = s.failed(exc)
        await s.clock.asleep(delay)


def download(
    url: str,
    dest: str | Path,
    *,
    client: httpx.Client,
    renew: Callable[[], str] | None = None,
    sha256: bytes | None = None,
    max_attempts: int = 8,
    max_renewals: int = 3,
    backoff: Sequence[float] = DEFAULT_BACKOFF,
    clock: Clock | None = None,
    observers: Iterable[Observer] = (),
    target: str = "objects.download",
) -> DownloadResult:
    """The sync twin of :func:`adownload`, with an :class:`httpx.Client`."""
    s = _session(url, dest, sha256, max_attempts, max_renewals, backoff, clock, observers, target)
    while True:
        try:
            with client.stream("GET", s.url, headers=s.request_headers()) as response:
                action = s.decide(response)
                if action is _Action.RENEW:
                    s.renew_allowed(response.read())
                    if renew is None:
                        raise SignedUrlError(target, "URL refused (403) and no renew given")
                    s.url = renew()
                    continue
                if action is _Action.APPEND or action is _Action.RESTART:
                    with s.open_part(action) as f:
                        for block in response.iter_bytes():
                            f.write(block)
                            s.received += len(block)
                    if s.complete():
                        return s.finish()
                    delay = s.failed(None)
                elif action is _Action.DONE:
                    return s.finish()
                else:
                    delay = s.failed(None)
        except httpx.TransportError as exc:
            delay = s.failed(exc)
        s.clock.sleep(delay)


def _session(
    url: str,
    dest: str | Path,
    sha256: bytes | None,
    max_attempts: int,
    max_renewals: int,
    backoff: Sequence[float],
    clock: Clock | None,
    observers: Iterable[Observer],
    target: str,
) -> _Session:
    if max_attempts < 1 or max_renewals < 0:
        raise ValueError("max_attempts must be >= 1 and max_renewals >= 0")
    return _Session(
        url,
        Path(dest),
        sha256,
        max_attempts=max_attempts,
        max_renewals=max_renewals,
        backoff=backoff,
        clock=clock or default_clock(),
        observers=observers if isinstance(observers, Observers) else Observers(observers),
        target=target,
    )


def _hash_in_url(url: str) -> bytes:
    for key, value in parse_qsl(urlsplit(url).query):
        if key == "sha256":
            digest = b64url_decode(value)
            if len(digest) == 32:
                return digest
    raise ValueError("the URL carries no sha256; pass sha256= explicitly")


def _content_range(value: str) -> tuple[int | None, int | None]:
    # "bytes 100-199/1000" -> (100, 1000); "bytes */1000" -> (None, 1000)
    unit, _, rest = value.partition(" ")
    if unit.lower() != "bytes":
        return None, None
    span, _, total = rest.partition("/")
    size = int(total) if total.isdigit() else None
    first = span.partition("-")[0]
    return (int(first) if first.isdigit() else None), size
