"""ASGI middleware for the ``Idempotency-Key`` header (IETF draft
``draft-ietf-httpapi-idempotency-key-header``).

On the unsafe methods it guards (``POST`` and ``PATCH`` by default):

- a missing key where one is required -> **400**; a malformed key (empty, longer than
  255 characters, not printable ASCII) -> **400**;
- the same key with the same request (method, path, query, body) -> the stored
  response is replayed: status, body and content headers, errors included, with
  ``Idempotent-Replayed: true``; the application is not called again;
- the same key with a different request -> **422**;
- the same key while the first request is still being processed -> **409**; the claim
  is renewed every ``lock / 3`` seconds on the clock while the application runs, so a
  slow handler is never taken for abandoned and run twice.

A client that disconnects before the whole body arrived is not a request: the key is
not claimed and the application is not called, so its retry with the whole body runs.

Refusals are ``application/problem+json`` bodies with ``type``, ``title``, ``status``,
``detail`` and a stable ``code``. Keys are scoped per client: by default by the tenant
that :class:`~mitigate.web.tenancy.TenantMiddleware` resolved and the credential
(``Authorization`` or ``X-API-Key``, hashed), so two tenants or two clients never share
a stored response. With the default scope, a guarded request that has neither tenant
nor credential is refused (**500** ``NO_SCOPE``: the middleware is mounted outside the
tenant middleware, or the service needs its own ``scope_key``); an explicit
``scope_key`` may return anything, ``""`` included. Keys are kept for ``ttl`` seconds
(24 h by default) on the store's clock. If the application raises before it has
answered, the key is released so the client's retry runs.

>>> import asyncio, httpx
>>> from starlette.applications import Starlette
>>> from starlette.responses import JSONResponse
>>> from starlette.routing import Route
>>> from mitigate.durable.idempotency import DatabaseIdempotencyStore
>>> from mitigate.durable.sqlite import SqliteStore
>>> calls = []
>>> async def charge(request):
...     calls.append(await request.json())
...     return JSONResponse({"charge": len(calls)}, status_code=201)
>>> async def main() -> list[tuple[int, str]]:
...     store = DatabaseIdempotencyStore(await SqliteStore.open(":memory:"))
...     routes = [Route("/charges", charge, methods=["POST"])]
...     app = IdempotencyMiddleware(Starlette(routes=routes), store,
...                                 scope_key=lambda scope: "one-client")
...     async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
...         out = []
...         for body in ({"amount": 5}, {"amount": 5}, {"amount": 7}):
...             r = await c.post("/charges", json=body, headers={"Idempotency-Key": "k-1"})
...             out.append((r.status_code, r.headers.get("idempotent-replayed", "")))
...         r = await c.post("/charges", json={"amount": 5})
...         out.append((r.status_code, r.json()["code"]))
...         return out
>>> asyncio.run(main())
[(201, ''), (201, 'true'), (422, ''), (400, 'MITIGATE.IDEMPOTENCY.KEY_MISSING')]
>>> calls
[{'amount': 5}]

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mitigate.clock import Clock, default_clock
from mitigate.durable.idempotency import (
    DEFAULT_LOCK,
    DEFAULT_TTL,
    IdempotencyStore,
    StoredResponse,
)
from mitigate.errors import ConfigError
from mitigate.observe.events import IdempotencyConflict, IdempotentReplay
from mitigate.observe.observers import Observer, Observers

__all__ = ["IdempotencyMiddleware", "authorization_scope", "tenant_scope"]

_PROBLEM = "https://mitigate.dev/problems/idempotency"
# Response headers worth replaying; hop-by-hop and per-response headers are not.
_REPLAYED_HEADERS = frozenset(
    {"content-type", "content-language", "content-encoding", "location", "etag", "cache-control"}
)


def authorization_scope(scope: Scope) -> str:
    """A key scope: a hash of the ``Authorization`` header (``""`` if none)."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            return hashlib.sha256(value).hexdigest()[:32]
    return ""


_CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")


def tenant_scope(scope: Scope) -> str:
    """The default key scope: the resolved tenant and the credential, hashed together.

    The tenant is ``scope["state"]["tenant"]`` (set by the tenant middleware); the
    credential is every ``Authorization`` and ``X-API-Key`` value. ``""`` when there is
    neither, which the middleware refuses for the default scope.
    """
    state = scope.get("state") or {}
    tenant = state.get("tenant") if isinstance(state, dict) else None
    tenant_id = str(getattr(tenant, "id", "")) if tenant is not None else ""
    credentials = [
        bytes(value) for name, value in scope.get("headers") or () if name in _CREDENTIAL_HEADERS
    ]
    if not tenant_id and not credentials:
        return ""
    digest = hashlib.sha256()
    digest.update(tenant_id.encode("utf-8"))
    for value in credentials:  # length-prefixed: no two lists hash alike by concatenation
        digest.update(b"\0%d:" % len(value))
        digest.update(value)
    return digest.hexdigest()[:32]


class IdempotencyMiddleware:
    """Make unsafe requests with an ``Idempotency-Key`` safe to retry.

    ``required`` says whether guarded requests must carry a key (``True``), may omit it
    (``False``), or decides per request (a callable on the ASGI scope). ``scope_key``
    derives the part of the storage key that separates clients; by default
    :func:`tenant_scope`, and a request for which it is empty is refused.
    """

    def __init__(
        self,
        app: ASGIApp,
        store: IdempotencyStore,
        *,
        methods: Iterable[str] = ("POST", "PATCH"),
        required: bool | Callable[[Scope], bool] = True,
        ttl: float = DEFAULT_TTL,
        lock: float = DEFAULT_LOCK,
        header: str = "Idempotency-Key",
        scope_key: Callable[[Scope], str] | None = None,
        max_body: int = 10 * 1024 * 1024,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
    ) -> None:
        if ttl <= 0 or lock <= 0:
            raise ConfigError(
                "idempotency",
                f"ttl and lock must be > 0 seconds, got ttl={ttl!r}, lock={lock!r}",
                code="MITIGATE.CONFIG.IDEMPOTENCY",
            )
        self.app = app
        self.store = store
        self.methods = frozenset(m.upper() for m in methods)
        self.required = required
        self.ttl = ttl
        self.lock = lock
        self.header = header.lower().encode("latin-1")
        self.header_name = header
        # An empty scope is allowed only when the caller chose the scope on purpose.
        self.allow_empty_scope = scope_key is not None
        self.scope_key: Callable[[Scope], str] = scope_key or tenant_scope
        self.max_body = max_body
        self.clock: Clock = clock or getattr(store, "clock", None) or default_clock()
        self.observers = Observers(observers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in self.methods:
            await self.app(scope, receive, send)
            return
        raw = _header(scope, self.header)
        if raw is None:
            required = self.required(scope) if callable(self.required) else self.required
            if not required:
                await self.app(scope, receive, send)
                return
            await self._refuse(
                send, 400, "KEY_MISSING", "", f"this request needs an {self.header_name} header"
            )
            return
        key = raw.decode("latin-1").strip().strip('"')
        if not key or len(key) > 255 or not key.isascii() or not key.isprintable():
            await self._refuse(
                send,
                400,
                "KEY_INVALID",
                "",
                f"{self.header_name} must be 1-255 printable ASCII characters",
            )
            return
        client_scope = self.scope_key(scope)
        if not client_scope and not self.allow_empty_scope:
            await self._refuse(
                send,
                500,
                "NO_SCOPE",
                key,
                "no tenant or credential to scope the key by; mount this middleware inside "
                "the tenant middleware, or pass scope_key",
            )
            return
        body, outcome = await _read_body(receive, self.max_body)
        if outcome == "too_large":
            await self._refuse(
                send, 413, "BODY_TOO_LARGE", key, f"the body exceeds {self.max_body} bytes"
            )
            return
        if outcome == "disconnected":
            # A truncated body is not the request: never claim the key nor run the app,
            # so the client's retry with the whole body runs. Nobody is left to answer.
            return
        fingerprint = _fingerprint(scope, body)
        stored_key = f"{client_scope}:{key}"
        claim = await self.store.claim(stored_key, fingerprint, ttl=self.ttl, lock=self.lock)
        if claim.outcome == "replay" and claim.response is not None:
            await self._replay(send, claim.response, key, claim.tier)
        elif claim.outcome == "mismatch":
            await self._refuse(
                send,
                422,
                "KEY_REUSED",
                key,
                "this key was used with a different request; use a new key",
            )
        elif claim.outcome == "in_flight":
            await self._refuse(
                send,
                409,
                "IN_FLIGHT",
                key,
                "a request with this key is still being processed; retry later",
            )
        else:
            await self._run(scope, body, receive, send, stored_key, fingerprint)

    async def _run(
        self, scope: Scope, body: bytes, receive: Receive, send: Send, key: str, fingerprint: str
    ) -> None:
        status = 0
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        finished = False
        delivered = False

        async def replay_body() -> Message:
            nonlocal delivered
            if delivered:  # the body was read: what comes next is the real disconnect
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status, finished
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers") or ():
                    text = name.decode("latin-1").lower()
                    if text in _REPLAYED_HEADERS:
                        headers.append((text, value.decode("latin-1")))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    finished = True
            await send(message)

        keeper = asyncio.create_task(self._keep_claim(key, fingerprint))
        try:
            try:
                await self.app(scope, replay_body, capture)
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
        except BaseException:
            if finished:  # the client got a full (error) response: keep it for the retry
                await self.store.complete(
                    key,
                    fingerprint,
                    StoredResponse(status, tuple(headers), b"".join(chunks)),
                    ttl=self.ttl,
                )
            else:
                await self.store.release(key, fingerprint)
            raise
        if finished:
            await self.store.complete(
                key,
                fingerprint,
                StoredResponse(status, tuple(headers), b"".join(chunks)),
                ttl=self.ttl,
            )
        else:  # the app returned without a full response: let the client retry
            await self.store.release(key, fingerprint)

    async def _keep_claim(self, key: str, fingerprint: str) -> None:
        """Renew the claim every third of ``lock`` while the application runs, so a slow
        handler is not taken for abandoned and run a second time."""
        while True:
            await self.clock.asleep(self.lock / 3)
            try:
                held = await self.store.renew(key, fingerprint, lock=self.lock)
            except Exception:  # a passing store error: the next tick retries
                continue
            if not held:
                return  # no longer ours (expired and taken over): nothing left to keep

    async def _replay(self, send: Send, response: StoredResponse, key: str, tier: str) -> None:
        if self.observers:
            self.observers.emit(
                IdempotentReplay(
                    target="idempotency",
                    at=self.clock.now(),
                    key=key,
                    tier=tier,
                    status=response.status,
                )
            )
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        headers.append((b"idempotent-replayed", b"true"))
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body, "more_body": False})

    async def _refuse(self, send: Send, status: int, code: str, key: str, detail: str) -> None:
        if self.observers:
            self.observers.emit(
                IdempotencyConflict(
                    target="idempotency",
                    at=self.clock.now(),
                    key=key,
                    status=status,
                    reason=code.lower(),
                )
            )
        titles = {
            400: "Idempotency-Key missing or invalid",
            409: "A request with this Idempotency-Key is in progress",
            413: "Request body too large to guard",
            422: "Idempotency-Key reused with a different request",
            500: "Idempotency-Key cannot be scoped to a client",
        }
        body = json.dumps(
            {
                "type": _PROBLEM,
                "title": titles[status],
                "status": status,
                "detail": detail,
                "code": f"MITIGATE.IDEMPOTENCY.{code}",
            }
        ).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if status == 409:
            headers.append((b"retry-after", b"1"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value)
    return None


_BodyOutcome = Literal["complete", "too_large", "disconnected"]


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, _BodyOutcome]:
    """The whole body; ``disconnected`` when the client left before its last chunk."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", "disconnected"
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", "too_large"
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts), "complete"


def _fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(scope["method"].encode())
    digest.update(b"\0")
    digest.update(str(scope.get("path", "")).encode())
    digest.update(b"\0")
    digest.update(bytes(scope.get("query_string", b"")))
    digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()
