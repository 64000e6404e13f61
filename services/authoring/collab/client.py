"""The editor's side of collaborative editing (what the browser runs), over a WebSocket.

It keeps its own pycrdt document, the last server version it knows and the edits the
server has not acknowledged. When the socket drops or the server sends the reconnect
hint it shows "reconnecting", asks the service which collab process serves the draft
(with backoff), rejoins with its last-known version and state vector, applies what it
lacks and sends what the server lacks: no edit is lost.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from pycrdt import Doc

from services.kit.asgi_ws import WebSocketClosedError

from .log import blocks_of

__all__ = ["CollabClient"]

BACKOFF = (0.5, 1.0, 2.0, 4.0)


class CollabClient:
    def __init__(
        self,
        name: str,
        draft: str,
        *,
        locate: Callable[[], Awaitable[str | None]],
        connect: Callable[[str], Awaitable[Any]],
        clock: Any,
    ) -> None:
        self.name = name
        self.draft = draft
        self.locate = locate
        self.connect = connect
        self.clock = clock
        self.doc: Doc[Any] = Doc()
        blocks_of(self.doc)
        self.version: int | None = None
        self.server: str | None = None
        self.status = "offline"
        self.statuses: list[tuple[float, str]] = []
        self.unacked: set[str] = set()
        self.acked: set[str] = set()
        self.edits: dict[str, str] = {}
        self._inflight: dict[str, set[str]] = {}
        self._sent = self.doc.get_state()
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._n = 0
        self.closing = False

    def blocks(self) -> dict[str, Any]:
        return dict(blocks_of(self.doc))

    def _set(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self.statuses.append((self.clock.now(), status))

    # -- joining -------------------------------------------------------------------------

    async def join(self) -> None:
        """Join (or rejoin) the draft's room, retrying with backoff until it works."""
        attempt = 0
        while not self.closing:
            try:
                await self._join_once()
                return
            except (WebSocketClosedError, ConnectionError, LookupError):
                delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
                attempt += 1
                await self.clock.asleep(delay)

    async def _join_once(self) -> None:
        server = await self.locate()
        if server is None:
            raise LookupError("no collab process answers")
        ws = await self.connect(server)
        sv = base64.b64encode(self.doc.get_state()).decode()
        await ws.send_text(json.dumps({"t": "join", "version": self.version, "sv": sv}))
        sync = json.loads(await ws.receive_text())
        if sync.get("t") != "sync":
            raise WebSocketClosedError(1002, f"expected sync, got {sync.get('t')}")
        if sync.get("reset"):  # the server's copy replaces ours: local edits are dropped
            self.doc = Doc()
            blocks_of(self.doc)
            self.unacked.clear()
            self._inflight.clear()
        self.doc.apply_update(base64.b64decode(sync["u"]))
        self.version = int(sync["version"])
        self._ws, self.server = ws, server
        self._set("connected")
        self._reader = asyncio.create_task(self._read(ws), name=f"collab-client-{self.name}")
        if sync.get("sv"):  # what the server lacks: every edit it has not acknowledged
            theirs = base64.b64decode(sync["sv"])
            await self._send(self.doc.get_update(theirs), set(self.unacked))

    # -- editing -------------------------------------------------------------------------

    def edit_local(self, key: str, text: str) -> None:
        """An edit typed while nothing is sent (offline, or about to be)."""
        blocks_of(self.doc)[key] = text
        self.edits[key] = text
        self.unacked.add(key)

    async def edit(self, key: str, text: str, *, corrupt: bool = False) -> None:
        """Type an edit and send it; ``corrupt``: the frame is damaged on the wire."""
        before = self._sent
        self.edit_local(key, text)
        if self._ws is None:
            return
        update = self.doc.get_update(before)
        await self._send(b"\x00\xff" + update[:3] if corrupt else update, set(self.unacked))

    async def flush(self) -> None:
        """Send everything typed since the last send."""
        if self._ws is not None:
            await self._send(self.doc.get_update(self._sent), set(self.unacked))

    async def _send(self, update: bytes, keys: set[str]) -> None:
        self._n += 1
        op = f"{self.name}-{self._n}"
        self._inflight[op] = keys
        self._sent = self.doc.get_state()
        message = {"t": "update", "op": op, "u": base64.b64encode(update).decode()}
        with contextlib.suppress(WebSocketClosedError):
            await self._ws.send_text(json.dumps(message))

    # -- reading -------------------------------------------------------------------------

    async def _read(self, ws: Any) -> None:
        try:
            while True:
                message = json.loads(await ws.receive_text())
                kind = message.get("t")
                if kind == "update":
                    self.doc.apply_update(base64.b64decode(message["u"]))
                    self.version = int(message["version"])
                elif kind == "ack":
                    keys = self._inflight.pop(str(message.get("op")), set())
                    self.acked |= keys
                    self.unacked -= keys
                    self.version = int(message["version"])
                elif kind == "reconnect":
                    break
        except WebSocketClosedError:
            pass
        if self.closing or self._ws is not ws:
            return
        self._ws = None
        self._inflight.clear()  # no answer will come for these: resent on rejoin
        self._set("reconnecting")
        await self.join()

    async def settled(self, limit: float = 60.0) -> bool:
        """Wait until connected with every edit acknowledged."""
        end = self.clock.now() + limit
        while self.clock.now() < end:
            if self._ws is not None and not self.unacked and not self._inflight:
                return True
            await self.clock.asleep(0.1)
        return False

    async def close(self) -> None:
        self.closing = True
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
