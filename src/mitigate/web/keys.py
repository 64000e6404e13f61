"""The well-known key document as an ASGI route, and httpx fetchers for clients.

``GET /.well-known/content-keys.json`` answers the key ring's public document (kid ->
public key, not-before, not-after) with a strong ETag and ``Cache-Control: max-age``;
``If-None-Match`` gets 304. Clients keep it in a :class:`~mitigate.KeyCache` built with
:func:`http_fetcher` (or :func:`async_http_fetcher`), which re-fetches once on an unknown
kid.

>>> import asyncio, httpx
>>> from starlette.applications import Starlette
>>> from mitigate.clock import VirtualClock
>>> from mitigate.integrity.keyring import KeyRing
>>> from mitigate.integrity.keyset import KeyCache
>>> ring = KeyRing.generate(clock=VirtualClock())
>>> app = Starlette(routes=[key_document_route(ring)])
>>> async def main() -> bool:
...     async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
...                                  base_url="http://content") as client:
...         cache = KeyCache(afetch=async_http_fetcher(client, WELL_KNOWN_PATH))
...         return (await cache.akey(ring.active_kid)).kid == ring.active_kid
>>> asyncio.run(main())
True

.. versionadded:: 0.1
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Protocol

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mitigate.integrity.digests import b64url

__all__ = [
    "WELL_KNOWN_PATH",
    "KeyDocumentSource",
    "async_http_fetcher",
    "http_fetcher",
    "key_document_route",
]

# content.fm.1.6 names this path.
WELL_KNOWN_PATH = "/.well-known/content-keys.json"
# Short enough that a rotation reaches clients well inside the publish lead, long enough
# that the document is not fetched per request.
DEFAULT_MAX_AGE = 300


class KeyDocumentSource(Protocol):
    """Anything that can produce the document (a KeyRing, a KeySet)."""

    def document_bytes(self) -> bytes: ...


def key_document_route(
    source: KeyDocumentSource, *, path: str = WELL_KNOWN_PATH, max_age: int = DEFAULT_MAX_AGE
) -> Route:
    """A Starlette route serving ``source``'s current key document."""

    async def endpoint(request: Request) -> Response:
        body = source.document_bytes()
        etag = f'"{b64url(hashlib.sha256(body).digest())}"'
        headers = {
            "etag": etag,
            "cache-control": f"public, max-age={max_age}",
            "content-type": "application/json",
        }
        if etag in _tags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        if request.method == "HEAD":
            headers["content-length"] = str(len(body))
            return Response(status_code=200, headers=headers)
        return Response(body, status_code=200, headers=headers)

    return Route(path, endpoint, methods=["GET", "HEAD"], name="key_document")


def http_fetcher(client: httpx.Client, url: str) -> Callable[[], bytes]:
    """A sync ``fetch`` for :class:`~mitigate.KeyCache`: GET the document, raise on non-200."""

    def fetch() -> bytes:
        response = client.get(url, headers={"accept": "application/json"})
        response.raise_for_status()
        return response.content

    return fetch


def async_http_fetcher(client: httpx.AsyncClient, url: str) -> Callable[[], Awaitable[bytes]]:
    """The async twin of :func:`http_fetcher`."""

    async def fetch() -> bytes:
        response = await client.get(url, headers={"accept": "application/json"})
        response.raise_for_status()
        return response.content

    return fetch


def _tags(header: str) -> set[str]:
    return {t.strip() for t in header.split(",") if t.strip()}
