"""The object-store port: local files (atomic, fault points) and S3 (against moto's server)."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from services.kit.errors import ServiceError
from services.kit.objects import DISK_READ, DISK_WRITE, LocalObjects, open_objects

from mitigate.chaos import Corrupt, Failure, FaultInjector


def _files(root: Path) -> list[Path]:
    return list(root.rglob("*"))


async def _read(store, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([c async for c in store.read(key, start, end)])


async def test_local_put_read_range_delete(tmp_path: Path) -> None:
    store = LocalObjects(tmp_path)
    data = os.urandom(3 * 1024 * 1024 + 5)
    info = await store.put("a/b/blob.bin", iter([data[:1000], data[1000:]]))
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
    assert await store.get("a/b/blob.bin") == data
    assert await _read(store, "a/b/blob.bin", 10, 20) == data[10:20]
    assert (await store.stat("a/b/blob.bin")) == info
    await store.put("a/b/blob.bin", b"new")  # the same key again: one object, replaced
    assert await store.list("a/") == ["a/b/blob.bin"]
    assert await store.get("a/b/blob.bin") == b"new"
    await store.delete("a/b/blob.bin")
    assert await store.list() == [] and await store.stat("a/b/blob.bin") is None


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", ""])
async def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ServiceError) as refused:
        await LocalObjects(tmp_path).put(key, b"x")
    assert refused.value.code == "PLATFORM.OBJECTS.BAD_KEY"
    assert _files(tmp_path) == [tmp_path / ".tmp"]


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, "No space left on device"), PermissionError(errno.EACCES, "denied")],
)
async def test_disk_faults_leave_the_old_object_and_no_partial_file(
    tmp_path: Path, error: OSError
) -> None:
    injector = FaultInjector()
    store = LocalObjects(tmp_path, injector=injector)
    await store.put("pkg.bin", b"old")
    injector.add(Failure(DISK_WRITE, error=error))
    with pytest.raises(OSError) as failed:
        await store.put("pkg.bin", [b"new" * 1000, b"more"])
    assert failed.value.errno == error.errno
    assert await store.get("pkg.bin") == b"old"
    assert list((tmp_path / ".tmp").iterdir()) == []


async def test_corruption_on_read_is_visible_to_a_digest_check(tmp_path: Path) -> None:
    injector = FaultInjector(random=lambda: 0.0)
    store = LocalObjects(tmp_path, injector=injector)
    info = await store.put("bundle.bin", b"A" * 4096)
    injector.add(Corrupt(DISK_READ))
    read = await store.get("bundle.bin")
    assert hashlib.sha256(read).hexdigest() != info.sha256
    assert (tmp_path / "bundle.bin").read_bytes() == b"A" * 4096  # stored bytes unchanged


def test_unknown_url_is_a_clear_error() -> None:
    with pytest.raises(ServiceError) as bad:
        open_objects("ftp://host/x")
    assert bad.value.code == "PLATFORM.CONFIG.OBJECTS"


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


async def test_s3_protocol_against_moto(moto_s3: str) -> None:
    store = open_objects(f"s3://content-test?endpoint={moto_s3}")
    data = os.urandom(9 * 1024 * 1024 + 3)  # two multipart parts
    chunks = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    info = await store.put("packages/p1/content.bin", iter(chunks))
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.size == len(data)
    assert await store.stat("packages/p1/content.bin") == info
    assert await _read(store, "packages/p1/content.bin", 5, 50) == data[5:50]
    assert await store.get("packages/p1/content.bin") == data
    assert await store.list("packages/") == ["packages/p1/content.bin"]
    await store.delete("packages/p1/content.bin")
    assert await store.stat("packages/p1/content.bin") is None
    with pytest.raises(ServiceError) as missing:
        await store.get("packages/p1/content.bin")
    assert missing.value.status == 404
    await store.aclose()


async def test_s3_failed_upload_leaves_no_object(moto_s3: str) -> None:
    store = open_objects(f"s3://content-fail?endpoint={moto_s3}")

    def broken() -> Iterator[bytes]:
        yield b"x" * (9 << 20)
        raise OSError(errno.EIO, "source read failed")

    with pytest.raises(OSError):
        await store.put("half.bin", broken())
    assert await store.list() == []
    await store.aclose()
