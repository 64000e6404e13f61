"""A fake provider behind the TCP fault proxy, for rows that run on the real clock.

``serve_behind_proxy(app, clock)`` serves an ASGI app (a fake catalog, CDN, SMS
gateway...) with uvicorn on 127.0.0.1 and puts mitigate's :class:`FaultProxy` in front of
it; the service's client reaches it through :class:`ToProxy`, an httpx transport that
sends every request to the proxy over a real socket, so the link can be cut, black-holed
or slowed while real bytes flow. The same client code, production's, makes the calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

import mitigate
from mitigate.chaos import FaultProxy

__all__ = ["Proxied", "ToProxy", "serve_behind_proxy"]


class ToProxy(httpx.AsyncBaseTransport):
    """Send every request to ``127.0.0.1:port`` over a real socket, whatever host the
    client was given (its base URL stays the service's own name for the provider)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class Proxied:
    """A served fake and the proxy in front of it; ``await stop()`` ends both."""

    proxy: FaultProxy
    stop: Callable[[], Awaitable[None]]


async def serve_behind_proxy(app: Any, clock: mitigate.Clock, transport: ToProxy) -> Proxied:
    """Serve ``app`` on a free port, start a proxy to it, point ``transport`` at it."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    )
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()  # the server failed to start: say why
        await clock.asleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    proxy = await FaultProxy("127.0.0.1", port, clock=clock).start()
    transport.port = proxy.port

    async def stop() -> None:
        proxy.clear()
        await proxy.up()  # a proxy left down would refuse nothing; make stop() uniform
        await proxy.stop()
        server.should_exit = True
        await task
        await transport.aclose()

    return Proxied(proxy, stop)
