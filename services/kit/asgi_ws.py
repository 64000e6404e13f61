"""A WebSocket client for an ASGI app in this process (httpx's ASGI transport speaks HTTP
only): the app's own WebSocket route runs as it would under uvicorn, on the caller's
event loop and clock, so experiments drive it in virtual time.

A connection whose app task ends without a close frame (it crashed or was cancelled, as
a killed process's sockets are) is seen by the client as closed with code 1006.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["AsgiWebSocket", "WebSocketClosedError"]

ABNORMAL = 1006


class WebSocketClosedError(ConnectionError):
    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"websocket closed ({code}) {reason}".strip())
        self.code = code
        self.reason = reason


class AsgiWebSocket:
    def __init__(self, app: Any, path: str, headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.path = path
        self.headers = headers or {}
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.closed: WebSocketClosedError | None = None

    @classmethod
    async def connect(
        cls, app: Any, path: str, headers: dict[str, str] | None = None
    ) -> AsgiWebSocket:
        """Open the connection; raises :class:`WebSocketClosedError` if the app refuses."""
        ws = cls(app, path, headers)
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in ws.headers.items()],
            "server": ("collab.local", 80),
            "client": ("127.0.0.1", 50000),
            "subprotocols": [],
        }
        ws._task = asyncio.create_task(app(scope, ws._receive, ws._send))
        await ws._to_app.put({"type": "websocket.connect"})
        first = await ws._next()
        if first.get("type") != "websocket.accept":
            raise ws._closed(first)
        return ws

    async def _receive(self) -> dict[str, Any]:
        return await self._to_app.get()

    async def _send(self, message: dict[str, Any]) -> None:
        await self._from_app.put(message)

    async def _next(self) -> dict[str, Any]:
        """The app's next message; an app task that ended is an abnormal close."""
        assert self._task is not None
        if not self._from_app.empty():
            return self._from_app.get_nowait()
        getter = asyncio.ensure_future(self._from_app.get())
        try:
            await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this reader is cancelled: no getter left pending
            if not getter.done():
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
        if not getter.cancelled():
            return getter.result()
        if not self._from_app.empty():
            return self._from_app.get_nowait()
        return {"type": "websocket.close", "code": ABNORMAL, "reason": "connection lost"}

    def _closed(self, message: dict[str, Any]) -> WebSocketClosedError:
        code = int(message.get("code", ABNORMAL))
        self.closed = WebSocketClosedError(code, str(message.get("reason") or ""))
        return self.closed

    async def send_text(self, text: str) -> None:
        if self.closed is not None:
            raise self.closed
        await self._to_app.put({"type": "websocket.receive", "text": text})

    async def receive_text(self) -> str:
        """The next text frame; raises :class:`WebSocketClosedError` once closed."""
        if self.closed is not None:
            raise self.closed
        message = await self._next()
        if message.get("type") == "websocket.send":
            return str(message.get("text") or "")
        closed = self._closed(message)
        # As a server does when the peer closes: the app's receive() sees the disconnect.
        await self._to_app.put({"type": "websocket.disconnect", "code": closed.code})
        raise closed

    async def close(self) -> None:
        if self._task is None or self._task.done():
            return
        await self._to_app.put({"type": "websocket.disconnect", "code": 1000})
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self.closed = self.closed or WebSocketClosedError(1000)
