"""A WebSocket client over a real socket with the interface of :class:`AsgiWebSocket`, so
the same client code (the collab editor) runs in process or against real servers."""

from __future__ import annotations

from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .asgi_ws import ABNORMAL, WebSocketClosedError

__all__ = ["RealWebSocket"]


class RealWebSocket:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, url: str) -> RealWebSocket:
        try:
            return cls(await connect(url, open_timeout=5, ping_interval=None))
        except (OSError, InvalidStatus, TimeoutError) as exc:
            raise WebSocketClosedError(ABNORMAL, f"cannot connect: {exc}") from exc

    async def send_text(self, text: str) -> None:
        try:
            await self.conn.send(text)
        except ConnectionClosed as exc:
            raise _closed(exc) from exc

    async def receive_text(self) -> str:
        try:
            message = await self.conn.recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from exc
        return message if isinstance(message, str) else message.decode()

    async def close(self) -> None:
        await self.conn.close()


def _closed(exc: ConnectionClosed) -> WebSocketClosedError:
    code = exc.rcvd.code if exc.rcvd is not None else ABNORMAL
    return WebSocketClosedError(code, str(exc))
