"""A collab process: rooms of pycrdt documents, one per draft, over WebSocket.

Our own room server on pycrdt (not pycrdt-websocket): its protocol is JSON text frames
with base64 Yjs updates, small enough to read in one place.

- ``join`` ``{version, sv}``: the client's last-known server version (None on a first
  join) and its state vector. The server answers ``sync`` with what the client lacks and
  its own state vector; the client then sends what the server lacks as an ``update``,
  and the CRDT merges both sides without loss (authoring.fm.1.7).
- ``update`` ``{op, u}``: applied to the room's document, appended to the event log,
  then acknowledged (``ack`` with the new version) and broadcast to the other clients.
- An update that does not decode means the server's document can no longer be trusted
  (authoring.fm.1.2): the room is dropped, its clients get a ``reconnect`` hint, and the
  next join rebuilds it from the latest snapshot plus the events after it.
- ``restart()`` is a graceful restart: every client gets the ``reconnect`` hint.
  ``kill()`` is the in-process analogue of SIGKILL: memory gone, sockets cut (1006).

Every 60 s each room's state is saved as a snapshot (``snapshots``, run by the workers).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..events import CollabCorrupted, CollabRestored
from .log import DocLog, blocks_of, event_name

__all__ = ["SNAPSHOT_EVERY", "CollabServer", "Room"]

SNAPSHOT_EVERY = 60.0
RESTART = 1012  # "service restart": reconnect


@dataclass(eq=False)
class Conn:
    ws: WebSocket
    closed: bool = False

    async def send(self, **message: Any) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                await self.ws.send_text(json.dumps(message))

    async def hint(self, reason: str) -> None:
        """The reconnect hint, then the close."""
        await self.send(t="reconnect", reason=reason)
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=RESTART, reason=reason)


@dataclass(eq=False)
class Room:
    draft: str
    doc: Any
    version: int
    snapshotted: int
    conns: set[Conn] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def keys(self) -> set[str]:
        return set(blocks_of(self.doc).keys())


class CollabServer:
    def __init__(self, name: str, runtime: Any, log: DocLog) -> None:
        self.name = name
        self.rt = runtime
        self.log = log
        self.alive = True
        self.rooms: dict[str, Room] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        switches = runtime.switches
        self.recover = switches.enabled("authoring.switch.collab-recovery")
        self.merge = switches.enabled("authoring.switch.rejoin-merge")
        self.app = Starlette(
            routes=[
                WebSocketRoute("/v1/collab/{draft}", self._session),
                Route("/health", self._health),
            ]
        )

    # -- the process ---------------------------------------------------------------------

    def kill(self) -> None:
        """SIGKILL, in process: no hint, no last snapshot, every socket cut."""
        self.alive = False
        self.rooms.clear()
        for task in list(self._tasks):
            task.cancel()

    def revive(self) -> None:
        """A new process starts in the dead one's place (empty memory)."""
        self.rooms.clear()
        self.alive = True

    async def restart(self) -> None:
        """A graceful restart: a last snapshot of each room, then the reconnect hint."""
        rooms = list(self.rooms.values())
        self.rooms.clear()
        for room in rooms:
            await self._snapshot(room)
            for conn in list(room.conns):
                await conn.hint("restart")

    async def snapshots(self, stop: asyncio.Event) -> None:
        """Every 60 s, save each changed room's state (the workers run this)."""
        while not stop.is_set():
            await self.rt.clock.asleep(SNAPSHOT_EVERY)
            if not self.alive:
                continue
            for room in list(self.rooms.values()):
                await self._snapshot(room)

    async def _snapshot(self, room: Room) -> None:
        if room.version > room.snapshotted:
            await self.log.snapshot(room.draft, room.version, room.doc.get_update())
            room.snapshotted = room.version

    async def _health(self, request: Request) -> JSONResponse:
        if not self.alive:
            return JSONResponse({"ok": False, "process": self.name}, status_code=503)
        return JSONResponse({"ok": True, "process": self.name, "rooms": len(self.rooms)})

    # -- rooms ---------------------------------------------------------------------------

    async def room(self, draft: str) -> Room:
        """The draft's room, rebuilt from its snapshot and event log on first use."""
        lock = self._loading.setdefault(draft, asyncio.Lock())
        async with lock:
            if draft in self.rooms:
                return self.rooms[draft]
            rebuilt = await self.log.rebuild(draft)
            room = Room(draft, rebuilt.doc, rebuilt.version, rebuilt.version)
            self.rooms[draft] = room
            self.rt.emit(
                CollabRestored(
                    target="collab.room",
                    at=self.rt.clock.now(),
                    draft=draft,
                    process=self.name,
                    snapshot=rebuilt.snapshot_version,
                    replayed=rebuilt.replayed,
                )
            )
            return room

    async def drop(self, draft: str, reason: str) -> None:
        """Forget the room; its clients rejoin and it is rebuilt from the store."""
        room = self.rooms.pop(draft, None)
        if room is not None:
            for conn in list(room.conns):
                await conn.hint(reason)

    # -- one client ----------------------------------------------------------------------

    async def _session(self, ws: WebSocket) -> None:
        if not self.alive:
            await ws.close(code=1013)
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Conn(ws)
        room: Room | None = None
        try:
            await ws.accept()
            join = json.loads(await ws.receive_text())
            room = await self.room(ws.path_params["draft"])
            room.conns.add(conn)
            await self._sync(room, conn, join)
            while not conn.closed:
                message = json.loads(await ws.receive_text())
                if message.get("t") == "update":
                    room = await self._update(room, conn, message)
        except (WebSocketDisconnect, RuntimeError, ValueError):
            pass
        finally:
            self._tasks.discard(task)
            if room is not None:
                room.conns.discard(conn)

    async def _sync(self, room: Room, conn: Conn, join: dict[str, Any]) -> None:
        rejoin = join.get("version") is not None
        if rejoin and not self.merge:  # the mutation: the client must take the server's copy
            update = room.doc.get_update()
            await conn.send(t="sync", u=_b64(update), sv="", version=room.version, reset=True)
            return
        state = base64.b64decode(join.get("sv") or "")
        update = room.doc.get_update(state) if state else room.doc.get_update()
        sv = _b64(room.doc.get_state())
        await conn.send(t="sync", u=_b64(update), sv=sv, version=room.version, reset=False)

    async def _update(self, room: Room, conn: Conn, message: dict[str, Any]) -> Room:
        op = str(message.get("op") or "")
        async with room.lock:
            if self.rooms.get(room.draft) is not room:  # dropped meanwhile: rejoin
                await conn.hint("room reloaded")
                return room
            before = room.keys()
            try:
                update = base64.b64decode(str(message.get("u") or ""), validate=True)
                room.doc.apply_update(update)
            except ValueError:
                return await self._corrupted(room, conn)
            seq = room.version + 1
            try:
                await self.log.append(room.draft, seq, event_name(before, room.keys()), update, op)
            except Exception:  # not durable: not acknowledged; rebuild and let clients resend
                await self.drop(room.draft, "store unavailable")
                return room
            room.version = seq
        await conn.send(t="ack", op=op, version=seq)
        for other in list(room.conns):
            if other is not conn:
                await other.send(t="update", u=message.get("u"), version=seq)
        return room

    async def _corrupted(self, room: Room, conn: Conn) -> Room:
        self.rt.emit(
            CollabCorrupted(
                target="collab.room", at=self.rt.clock.now(), draft=room.draft, process=self.name
            )
        )
        if self.recover:
            await self.drop(room.draft, "document corrupted")
        return room  # the mutation: the frame is dropped and the session goes on


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
