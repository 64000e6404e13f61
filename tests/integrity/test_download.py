"""Resumable download (content.fm.1.9, 1.10): cut at 60 %, URL expires, renew, resume.

The async cases run the object server in-process (httpx.ASGITransport); the sync case
runs it under uvicorn on 127.0.0.1 so real sockets carry the bytes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from mitigate.clock import VirtualClock
from mitigate.integrity import errors as codes
from mitigate.integrity.digests import b64url, sha256
from mitigate.integrity.download import adownload, download
from mitigate.integrity.errors import IntegrityError
from mitigate.integrity.signed_url import UrlSigner
from mitigate.observe.events import TamperDetected
from mitigate.observe.observers import Recorder
from mitigate.web.signed_urls import CHUNK, LocalObjects, SignedObjectApp

SIZE = 1_000_000
SECRET = b"download-test-secret-0123456789ab"


@pytest.fixture
def payload() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def origin(tmp_path: Path, payload: bytes) -> Path:
    root = tmp_path / "origin"
    root.mkdir()
    (root / "bundle.zip").write_bytes(payload)
    return root


class _CutStream(httpx.AsyncByteStream, httpx.SyncByteStream):
    """Passes ``cut`` bytes of a response body, then fails like a dropped connection."""

    def __init__(self, inner: httpx.Response, cut: int) -> None:
        self.inner = inner
        self.cut = cut

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        stream = self.inner.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        async for chunk in stream:
            if sent + len(chunk) > self.cut:
                yield chunk[: self.cut - sent]
                raise httpx.ReadError("connection reset by peer (injected)")
            sent += len(chunk)
            yield chunk

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        stream = self.inner.stream
        assert isinstance(stream, httpx.SyncByteStream)
        for chunk in stream:
            if sent + len(chunk) > self.cut:
                yield chunk[: self.cut - sent]
                raise httpx.ReadError("connection reset by peer (injected)")
            sent += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()

    def close(self) -> None:
        self.inner.close()


class _Cutting(httpx.AsyncBaseTransport, httpx.BaseTransport):
    """Cuts the first response body after ``cut`` bytes; records every request."""

    def __init__(self, inner: httpx.AsyncBaseTransport | httpx.BaseTransport, cut: int) -> None:
        self.inner = inner
        self.cut: int | None = cut
        self.requests: list[httpx.Request] = []
        self.statuses: list[int] = []

    def _wrap(self, response: httpx.Response) -> httpx.Response:
        self.statuses.append(response.status_code)
        if self.cut is None or response.status_code not in (200, 206):
            return response
        cut, self.cut = self.cut, None
        return httpx.Response(
            response.status_code, headers=response.headers, stream=_CutStream(response, cut)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert isinstance(self.inner, httpx.AsyncBaseTransport)
        return self._wrap(await self.inner.handle_async_request(request))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert isinstance(self.inner, httpx.BaseTransport)
        return self._wrap(self.inner.handle_request(request))


async def test_cut_expired_renewed_and_resumed(origin: Path, payload: bytes, tmp_path) -> None:
    clock = VirtualClock()  # autojump: the 11-minute wait costs nothing
    signer = UrlSigner(SECRET, clock=clock)
    app = SignedObjectApp(signer, LocalObjects(origin))
    transport = _Cutting(httpx.ASGITransport(app=app), cut=int(SIZE * 0.6))
    renewals = 0

    async def renew() -> str:
        nonlocal renewals
        renewals += 1
        return signer.sign("/objects/bundle.zip", sha256(payload))

    url = signer.sign("/objects/bundle.zip", sha256(payload))
    dest = tmp_path / "device" / "bundle.zip"
    dest.parent.mkdir()
    async with httpx.AsyncClient(transport=transport, base_url="http://origin") as client:
        result = await adownload(
            url, dest, client=client, renew=renew, clock=clock, backoff=(660.0,)
        )

    assert clock.now() >= 660  # the clock moved 11 min before the resume
    assert transport.statuses == [200, 403, 206]
    resume = transport.requests[-1]
    assert resume.headers["range"] == f"bytes={int(SIZE * 0.6)}-"
    assert resume.headers["if-range"] == f'"{_b64(sha256(payload))}"'
    assert (result.renewals, result.resumes, result.restarts) == (1, 1, 0)
    assert renewals == 1
    assert result.bytes_received <= SIZE + CHUNK
    assert result.sha256 == sha256(payload)
    assert dest.read_bytes() == payload
    assert not dest.with_name("bundle.zip.part").exists()


async def test_a_server_that_ignores_ranges_restarts_from_zero(payload: bytes, tmp_path) -> None:
    calls: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("range"))
        return httpx.Response(200, content=payload)

    transport = _Cutting(httpx.MockTransport(handler), cut=SIZE // 2)
    url = f"/objects/x?sha256={_b64(sha256(payload))}&exp=1&sig=x"
    async with httpx.AsyncClient(transport=transport, base_url="http://cdn") as client:
        result = await adownload(url, tmp_path / "x", client=client, clock=VirtualClock())
    assert calls == [None, f"bytes={SIZE // 2}-"]
    assert result.restarts == 1
    assert (tmp_path / "x").read_bytes() == payload


async def test_poisoned_bytes_are_caught_and_never_kept(payload: bytes, tmp_path) -> None:
    poisoned = bytearray(payload)
    poisoned[1234] ^= 0xFF

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bytes(poisoned))

    recorder = Recorder()
    url = f"/objects/x?sha256={_b64(sha256(payload))}&exp=1&sig=x"
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(handler), base_url="http://cdn"
    ) as client:
        with pytest.raises(IntegrityError) as info:
            await adownload(url, tmp_path / "x", client=client, observers=[recorder])
    assert info.value.code == codes.DIGEST_MISMATCH
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.part").exists()
    assert recorder.values("integrity.tamper_detected", "subject") == ["/objects/x"]
    assert recorder.of(TamperDetected)[0].reason == codes.DIGEST_MISMATCH


async def test_gives_up_after_max_attempts_and_keeps_the_partial(payload: bytes, tmp_path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    url = f"/objects/x?sha256={_b64(sha256(payload))}&exp=1&sig=x"
    clock = VirtualClock()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(handler), base_url="http://cdn"
    ) as client:
        with pytest.raises(IntegrityError) as info:
            await adownload(url, tmp_path / "x", client=client, clock=clock, max_attempts=3)
    assert info.value.code == "MITIGATE.INTEGRITY.DOWNLOAD_FAILED"
    assert clock.now() == 0.0 + 0.5  # backoff 0.0 then 0.5 between the 3 attempts


async def test_renewals_are_bounded(origin: Path, payload: bytes, tmp_path) -> None:
    clock = VirtualClock()
    signer = UrlSigner(SECRET, clock=clock)
    app = SignedObjectApp(signer, LocalObjects(origin))
    url = signer.sign("/objects/bundle.zip", sha256(payload), ttl=1)
    clock.advance(5)

    async def stale_renew() -> str:
        return url  # a broken renewer that hands back the expired URL

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://o"
    ) as client:
        with pytest.raises(Exception) as info:
            await adownload(url, tmp_path / "x", client=client, renew=stale_renew, clock=clock)
    assert getattr(info.value, "code", "") == codes.URL_EXPIRED


def test_sync_download_over_a_real_socket(origin: Path, payload: bytes, tmp_path) -> None:
    clock = VirtualClock(autojump=False)  # sync sleeps move it at once
    signer = UrlSigner(SECRET, clock=clock)
    app = SignedObjectApp(signer, LocalObjects(origin))
    with _Serve(app) as base:
        transport = _Cutting(httpx.HTTPTransport(), cut=int(SIZE * 0.6))
        url = signer.sign("/objects/bundle.zip", sha256(payload))
        with httpx.Client(transport=transport, base_url=base) as client:
            result = download(
                url,
                tmp_path / "bundle.zip",
                client=client,
                renew=lambda: signer.sign("/objects/bundle.zip", sha256(payload)),
                clock=clock,
                backoff=(660.0,),
            )
    assert transport.statuses == [200, 403, 206]
    assert (result.renewals, result.resumes, result.restarts) == (1, 1, 0)
    assert result.bytes_received <= SIZE + CHUNK
    assert (tmp_path / "bundle.zip").read_bytes() == payload


class _Serve:
    """Run an ASGI app under uvicorn on 127.0.0.1 (a free port) in a thread."""

    def __init__(self, app: object) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _b64(raw: bytes) -> str:
    return b64url(raw)
