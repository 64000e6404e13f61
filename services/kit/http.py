"""The HTTP client that puts the catalog's pipeline in front of each remote target.

One :class:`Remote` per remote service (the catalog service, a CDN, a model server). Each
call names its target (``catalog.register``): the runtime's ``policy(target)`` pipeline
(retry, breaker, budget, attempt timeout, fault injection point) wraps the request. A 5xx,
429 or a transport error is a :class:`RemoteError` the policies retry; a 4xx is
:class:`RemoteRefusedError`, permanent.

The transport decides where the bytes go: in virtual time httpx's ASGI transport calls the
fake provider in process; in real time a real socket reaches it under uvicorn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from .calls import call

__all__ = ["Remote", "RemoteError", "RemoteRefusedError", "asgi_transport"]


class RemoteError(ConnectionError):
    """The remote did not answer usefully (5xx, 429, transport failure): worth retrying."""

    def __init__(self, target: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{target}: {message}")
        self.target = target
        self.status = status


class RemoteRefusedError(Exception):
    """The remote refused the request (4xx other than 429): retrying will not help."""

    def __init__(self, target: str, status: int, body: Any) -> None:
        super().__init__(f"{target}: refused with {status}: {body}")
        self.target = target
        self.status = status
        self.body = body


def asgi_transport(app: Any) -> httpx.AsyncBaseTransport:
    """Reach an ASGI app in process (virtual time: no socket, no real waiting)."""
    return httpx.ASGITransport(app=app)


class Remote:
    """Calls to one remote service, each through the pipeline of its target."""

    def __init__(
        self,
        base_url: str,
        policy: Callable[[str], Any],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.policy = policy
        self.client = httpx.AsyncClient(
            base_url=base_url, transport=transport, headers=headers, timeout=None
        )

    async def request(self, target: str, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request through ``target``'s pipeline; the decoded JSON body. A refusal
        (4xx) is raised at once: neither retried nor counted by the breaker."""
        return await call(
            self.policy(target),
            self._send,
            target,
            method,
            path,
            kwargs,
            permanent=(RemoteRefusedError,),
        )

    async def _send(self, target: str, method: str, path: str, kwargs: dict[str, Any]) -> Any:
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise RemoteError(target, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            status = response.status_code
            raise RemoteError(target, f"answered {status}", status=status)
        body = response.json() if response.content else None
        if response.status_code >= 400:
            raise RemoteRefusedError(target, response.status_code, body)
        return body

    async def aclose(self) -> None:
        await self.client.aclose()
