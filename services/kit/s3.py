"""The object-store port over the S3 protocol (boto3; any S3-compatible server).

boto3 is synchronous: each call runs in a worker thread. ``put`` streams through a
multipart upload (parts of 8 MiB, hashed as they pass), so memory stays bounded; a failed
upload is aborted and leaves no object.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .errors import ServiceError
from .objects import CHUNK, Chunks, ObjectInfo, check_key, iter_chunks

__all__ = ["S3Objects"]

PART = 8 * CHUNK
_SHA = "sha256"  # user metadata key holding the object's SHA-256


class S3Objects:
    """Objects in one bucket (created when missing)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self._ready = False

    @classmethod
    def from_url(cls, url: str) -> S3Objects:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        client = boto3.client(
            "s3",
            endpoint_url=query.get("endpoint"),
            region_name=query.get("region", "us-east-1"),
            aws_access_key_id=query.get("key", "local"),
            aws_secret_access_key=query.get("secret", "local"),
            config=Config(retries={"max_attempts": 1}),  # retries are the catalog's job
        )
        return cls(client, parts.netloc)

    def __repr__(self) -> str:
        return f"S3Objects({self.bucket!r})"

    async def _call(self, name: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.client, name), **kwargs)

    async def _ensure_bucket(self) -> None:
        if self._ready:
            return
        try:
            await self._call("head_bucket", Bucket=self.bucket)
        except ClientError:
            await self._call("create_bucket", Bucket=self.bucket)
        self._ready = True

    async def put(self, key: str, data: Chunks) -> ObjectInfo:
        check_key(key)
        await self._ensure_bucket()
        digest = hashlib.sha256()
        size = 0
        # A multipart upload becomes visible only when completed: never a partial object.
        upload = await self._call("create_multipart_upload", Bucket=self.bucket, Key=key)
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        buffer = bytearray()
        try:
            async for chunk in iter_chunks(data):
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                while len(buffer) >= PART:
                    await self._part(key, upload_id, parts, bytes(buffer[:PART]))
                    del buffer[:PART]
            if buffer or not parts:
                await self._part(key, upload_id, parts, bytes(buffer))
            await self._call(
                "complete_multipart_upload",
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            await self._call(
                "abort_multipart_upload", Bucket=self.bucket, Key=key, UploadId=upload_id
            )
            raise
        sha = digest.hexdigest()
        await self._call(
            "put_object_tagging",
            Bucket=self.bucket,
            Key=key,
            Tagging={"TagSet": [{"Key": _SHA, "Value": sha}]},
        )
        return ObjectInfo(key, size, sha)

    async def _part(
        self, key: str, upload_id: str, parts: list[dict[str, Any]], body: bytes
    ) -> None:
        number = len(parts) + 1
        answer = await self._call(
            "upload_part",
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
        )
        parts.append({"ETag": answer["ETag"], "PartNumber": number})

    async def stat(self, key: str) -> ObjectInfo | None:
        check_key(key)
        await self._ensure_bucket()
        try:
            head = await self._call("head_object", Bucket=self.bucket, Key=key)
            tags = await self._call("get_object_tagging", Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        sha = {t["Key"]: t["Value"] for t in tags.get("TagSet", [])}.get(_SHA, "")
        return ObjectInfo(key, int(head["ContentLength"]), sha)

    async def size(self, key: str) -> int | None:
        info = await self.stat(key)
        return None if info is None else info.size

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        check_key(key)
        await self._ensure_bucket()
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start or end is not None:
            if end is not None and end <= start:
                return
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            answer = await self._call("get_object", **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise ServiceError(
                    "PLATFORM.OBJECTS.NOT_FOUND", f"no object {key!r}", status=404
                ) from exc
            raise
        body = answer["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def get(self, key: str) -> bytes:
        return b"".join([c async for c in self.read(key)])

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._ensure_bucket()
        await self._call("delete_object", Bucket=self.bucket, Key=key)

    async def list(self, prefix: str = "") -> list[str]:
        await self._ensure_bucket()
        keys: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = await self._call("list_objects_v2", **kwargs)
            keys += [item["Key"] for item in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not token:
                return sorted(keys)

    async def aclose(self) -> None:
        self.client.close()
