"""Fixtures the guard tests share."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.conftest import require_redis


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    """A client on the real Redis whose ``test_prefix`` is unique; its keys go at teardown."""
    client = aioredis.from_url(require_redis())
    prefix = f"mitigate-test-{uuid.uuid4().hex}"
    client.test_prefix = prefix  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
