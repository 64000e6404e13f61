"""The signed object server: 403 on expiry, strong ETag, Range and If-Range."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from mitigate.clock import VirtualClock
from mitigate.integrity.digests import b64url, sha256
from mitigate.integrity.signed_url import UrlSigner
from mitigate.observe.events import TamperDetected
from mitigate.observe.observers import Recorder
from mitigate.web.signed_urls import LocalObjects, SignedObjectApp

BODY = bytes(range(256)) * 1000  # 256 000 bytes, several chunks
ETAG = f'"{b64url(sha256(BODY))}"'


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(autojump=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "obj.bin").write_bytes(BODY)
    return tmp_path


@pytest.fixture
def signer(clock: VirtualClock) -> UrlSigner:
    return UrlSigner(b"web-signed-url-secret-0123456789", clock=clock)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(signer, root, recorder):  # type: ignore[no-untyped-def]
    app = SignedObjectApp(signer, LocalObjects(root), observers=[recorder])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://o") as c:
        yield c


def _url(signer: UrlSigner, path: str = "/objects/dir/obj.bin", body: bytes = BODY) -> str:
    return signer.sign(path, sha256(body))


async def test_full_get_carries_a_strong_etag_and_digest(client, signer) -> None:
    r = await client.get(_url(signer))
    assert r.status_code == 200
    assert r.content == BODY
    assert r.headers["etag"] == ETAG and not r.headers["etag"].startswith("W/")
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-length"] == str(len(BODY))
    assert r.headers["repr-digest"] == f"sha-256=:{base64.b64encode(sha256(BODY)).decode()}:"


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
        ("bytes=255000-", 255000, 255999),
        ("bytes=-10", 255990, 255999),
        ("bytes=250000-999999", 250000, 255999),
    ],
)
async def test_ranges_are_answered_206(client, signer, spec: str, start: int, end: int) -> None:
    r = await client.get(_url(signer), headers={"range": spec})
    assert r.status_code == 206
    assert r.content == BODY[start : end + 1]
    assert r.headers["content-range"] == f"bytes {start}-{end}/{len(BODY)}"
    assert r.headers["content-length"] == str(end - start + 1)


async def test_unsatisfiable_range_is_416(client, signer) -> None:
    r = await client.get(_url(signer), headers={"range": f"bytes={len(BODY)}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(BODY)}"


async def test_multi_range_gets_the_whole_object(client, signer) -> None:
    r = await client.get(_url(signer), headers={"range": "bytes=0-1,5-6"})
    assert r.status_code == 200 and r.content == BODY


async def test_if_range_with_the_etag_honours_the_range(client, signer) -> None:
    r = await client.get(_url(signer), headers={"range": "bytes=10-", "if-range": ETAG})
    assert r.status_code == 206 and r.content == BODY[10:]


@pytest.mark.parametrize(
    "validator", ['"something-else"', f"W/{ETAG}", "Wed, 21 Oct 2015 07:28:00 GMT"]
)
async def test_if_range_mismatch_sends_everything(client, signer, validator: str) -> None:
    r = await client.get(_url(signer), headers={"range": "bytes=10-", "if-range": validator})
    assert r.status_code == 200 and r.content == BODY


async def test_head_has_headers_and_no_body(client, signer) -> None:
    r = await client.head(_url(signer), headers={"range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == b""
    assert r.headers["content-length"] == "10"


async def test_expired_url_is_403_with_a_code(client, signer, clock) -> None:
    url = _url(signer)
    clock.advance(601)
    r = await client.get(url, headers={"range": "bytes=10-"})
    assert r.status_code == 403
    assert r.json()["code"] == "MITIGATE.URL.EXPIRED"


async def test_forged_url_is_403(client, signer) -> None:
    url = _url(signer).replace("obj.bin", "obj2.bin")
    r = await client.get(url)
    assert r.status_code == 403 and r.json()["code"] == "MITIGATE.URL.INVALID"


async def test_missing_object_is_404(client, signer) -> None:
    r = await client.get(_url(signer, "/objects/dir/none.bin"))
    assert r.status_code == 404


async def test_a_path_outside_the_prefix_is_404(client, signer) -> None:
    r = await client.get(_url(signer, "/other/dir/obj.bin"))
    assert r.status_code == 404


async def test_post_is_405(client, signer) -> None:
    r = await client.post(_url(signer))
    assert r.status_code == 405


async def test_changed_object_is_409_with_a_tamper_event(client, signer, root, recorder) -> None:
    url = _url(signer)
    (root / "dir" / "obj.bin").write_bytes(BODY[:-1] + b"X")  # poisoned in place
    r = await client.get(url)
    assert r.status_code == 409
    assert r.json()["code"] == "MITIGATE.URL.CONTENT_CHANGED"
    assert recorder.values("integrity.tamper_detected", "subject") == ["/objects/dir/obj.bin"]
    assert isinstance(recorder.events[0], TamperDetected)


def test_local_objects_never_leave_their_root(root: Path) -> None:
    objects = LocalObjects(root / "dir")
    assert objects.stat("../dir/obj.bin") is not None  # resolves inside
    (root / "secret").write_bytes(b"s")
    assert objects.stat("../secret") is None
    with pytest.raises(FileNotFoundError):
        objects.open("../secret")


@pytest.mark.parametrize(
    "spec",
    [b"bytes=\xb2-", b"bytes=0-\xb9", b"bytes=-\xb3", "bytes=١-٢".encode(), b"bytes=+1-2"],
    ids=["superscript-start", "superscript-end", "superscript-suffix", "arabic-indic", "plus"],
)
async def test_a_range_with_non_ascii_digits_is_ignored_not_a_500(
    client, signer, spec: bytes
) -> None:
    # str.isdigit() is true for "²" and "١", which int() then refuses or reads as digits.
    r = await client.get(_url(signer), headers={"range": spec})
    assert r.status_code == 200 and r.content == BODY
