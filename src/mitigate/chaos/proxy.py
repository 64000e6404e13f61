"""A TCP fault proxy: put it between a client and a real server, then break the link.

The client connects to the proxy's port instead of the server's; every byte is pumped
through and the conditions you set act on it: ``down`` (connections refused, open ones
reset), ``latency`` with jitter, ``bandwidth``, ``reset`` (RST on every connection),
``blackhole`` (bytes swallowed, the client times out), ``slicing`` (data cut in small
pieces) and ``cut_after`` (connection closed after N bytes). Given a protocol's framing
(``frames=NatsFrames``), it also drops whole messages: ``drop_messages(0.1, match=...)``.
Everything is controlled from Python, in the same event loop as the test, so PostgreSQL,
Redis and NATS can be taken away and brought back without stopping them (Toxiproxy does
this as a separate server, and knows bytes only).

>>> import asyncio
>>> async def demo() -> bytes:
...     async def echo(reader, writer):
...         writer.write(await reader.read(100)); await writer.drain(); writer.close()
...     server = await asyncio.start_server(echo, "127.0.0.1", 0)
...     upstream = server.sockets[0].getsockname()[1]
...     async with FaultProxy("127.0.0.1", upstream) as proxy:
...         reader, writer = await asyncio.open_connection(*proxy.address)
...         writer.write(b"ping"); await writer.drain()
...         reply = await reader.read(100)
...         writer.close()
...     server.close()
...     return reply
>>> asyncio.run(demo())
b'ping'

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import contextlib
import random as _random
import socket
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError

__all__ = ["Direction", "FaultProxy", "LinkConditions"]

Direction = Literal["upstream", "downstream", "both"]
Way = Literal["upstream", "downstream"]
_CHUNK = 65536


class Frames(Protocol):
    """Cuts one direction of a connection into whole protocol frames (each has ``raw``)."""

    def feed(self, data: bytes) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class LinkConditions:
    """What happens to bytes flowing one way through the proxy.

    >>> LinkConditions(latency=0.05, jitter=0.01).latency
    0.05
    >>> LinkConditions(bandwidth=0)
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.PROXY] bandwidth must be > 0 bytes/s, got 0; \
use clear() to remove the limit
    """

    latency: float = 0.0
    jitter: float = 0.0
    bandwidth: float | None = None  # bytes per second
    slice_size: int | None = None
    slice_delay: float = 0.0
    cut_after: int | None = None  # bytes forwarded before the connection is closed
    blackhole: bool = False
    drop_rate: float = 0.0  # share of matching frames dropped (needs the proxy's framing)
    drop_match: Callable[[Any], bool] | None = None

    def __post_init__(self) -> None:
        for name in ("latency", "jitter", "slice_delay"):
            if getattr(self, name) < 0:
                _bad(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.bandwidth is not None and self.bandwidth <= 0:
            _bad(
                f"bandwidth must be > 0 bytes/s, got {self.bandwidth!r}",
                "use clear() to remove the limit",
            )
        if self.slice_size is not None and self.slice_size < 1:
            _bad(f"slice_size must be >= 1 byte, got {self.slice_size!r}")
        if self.cut_after is not None and self.cut_after < 0:
            _bad(f"cut_after must be >= 0 bytes, got {self.cut_after!r}")
        if not 0.0 <= self.drop_rate <= 1.0:
            _bad(f"drop_rate must be within [0, 1], got {self.drop_rate!r}")

    @property
    def clean(self) -> bool:
        return self == _CLEAN


_CLEAN = LinkConditions()


def _bad(message: str, hint: str = "fix the proxy setting") -> None:
    raise ConfigError(None, message, hint=hint, code="MITIGATE.CONFIG.PROXY")


class _Link:
    """One proxied connection: two pumps and the sockets they share."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        self.tasks: list[asyncio.Task[None]] = []
        # Bytes forwarded per direction since the conditions last changed (for cut_after).
        self.sent = {"upstream": 0, "downstream": 0}
        self.frames: dict[str, Frames] = {}

    def reset(self) -> None:
        _abort(self.client, rst=True)
        _abort(self.server, rst=True)
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    """Forward TCP from ``listen_port`` (0 = any free port) to ``host:port``.

    Controls take effect at once, on open connections and new ones:
    ``latency``, ``bandwidth``, ``slicing``, ``cut_after`` and ``blackhole`` take a
    ``direction`` (``"upstream"`` = client to server, ``"downstream"``, ``"both"``);
    ``reset_connections()`` resets what is open; ``await down()`` / ``await up()`` take
    the whole server away and back; ``clear()`` removes every condition.

    ``clock`` paces latency and bandwidth (the RealClock by default: a real server is on
    the other side); ``random`` draws the jitter, so runs can be repeated.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        clock: Clock | None = None,
        random: Callable[[], float] | None = None,
        frames: Callable[[], Frames] | None = None,
        on_drop: Callable[[Way, Any], None] | None = None,
    ) -> None:
        self.upstream = (host, port)
        self._frames = frames
        self.on_drop = on_drop  # told of every dropped frame (to record a fault event)
        self.dropped = {"upstream": 0, "downstream": 0}
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.clock = clock if clock is not None else default_clock()
        self._random = random if random is not None else _random.Random().random
        self._conditions = {"upstream": _CLEAN, "downstream": _CLEAN}
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._reset_new = False
        self._is_down = False
        self.accepted = 0
        self.bytes = {"upstream": 0, "downstream": 0}

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(
            self._accept, self.listen_host, self.listen_port, reuse_address=True
        )
        self.listen_port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        await self._close_listener()
        # Let every connection handler finish, so none is left for the loop to cancel.
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect: ``(listen_host, listen_port)``."""
        return (self.listen_host, self.listen_port)

    @property
    def port(self) -> int:
        return self.listen_port

    @property
    def connections(self) -> int:
        """How many proxied connections are open now."""
        return len(self._links)

    def conditions(self, direction: Literal["upstream", "downstream"]) -> LinkConditions:
        return self._conditions[direction]

    @property
    def is_down(self) -> bool:
        return self._is_down

    # -- controls --------------------------------------------------------------------
    async def down(self) -> None:
        """Take the server away: new connections are refused, open ones are reset."""
        self._is_down = True
        await self._close_listener()

    async def up(self) -> None:
        """Bring the server back on the same port (conditions are kept)."""
        if self._is_down or self._server is None:
            self._is_down = False
            await self.start()

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[FaultProxy]:
        """``async with proxy.outage():`` down inside the block, up again after it,
        even when the block raises."""
        await self.down()
        try:
            yield self
        finally:
            await self.up()

    def reset_connections(self, *, new_ones_too: bool = False) -> int:
        """Reset (TCP RST) every open connection; with ``new_ones_too``, also every
        connection accepted until :meth:`clear`. Returns how many were reset."""
        self._reset_new = new_ones_too or self._reset_new
        count = len(self._links)
        for link in list(self._links):
            link.reset()
        self._links.clear()
        return count

    def latency(
        self, seconds: float, *, jitter: float = 0.0, direction: Direction = "both"
    ) -> None:
        """Delay each chunk by ``seconds`` plus a uniform draw in ``[-jitter, +jitter]``."""
        self._set(direction, latency=seconds, jitter=jitter)

    def bandwidth(self, bytes_per_second: float, *, direction: Direction = "both") -> None:
        """Let through at most ``bytes_per_second``."""
        self._set(direction, bandwidth=bytes_per_second)

    def slicing(self, size: int, *, delay: float = 0.0, direction: Direction = "both") -> None:
        """Cut data into ``size``-byte writes, ``delay`` seconds apart."""
        self._set(direction, slice_size=size, slice_delay=delay)

    def cut_after(self, n_bytes: int, *, direction: Direction = "both") -> None:
        """Close each connection once it has forwarded ``n_bytes`` more bytes this way."""
        self._set(direction, cut_after=n_bytes)

    def blackhole(self, *, direction: Direction = "both") -> None:
        """Swallow bytes silently: connections stay open, nothing arrives (a timeout)."""
        self._set(direction, blackhole=True)

    def drop_messages(
        self,
        rate: float,
        *,
        direction: Direction = "both",
        match: Callable[[Any], bool] | None = None,
    ) -> None:
        """Drop ``rate`` of the whole frames ``match`` accepts (all, without ``match``);
        needs the proxy built with ``frames=`` (e.g. :class:`NatsFrames`)."""
        if self._frames is None:
            _bad("message drops need the protocol's framing", "pass frames=NatsFrames")
        self._set(direction, drop_rate=rate, drop_match=match)

    def clear(self) -> None:
        """Remove every condition; a ``down`` proxy stays down until :meth:`up`."""
        self._reset_new = False
        self._conditions = {"upstream": _CLEAN, "downstream": _CLEAN}
        self._restart_counts()

    def _set(self, direction: Direction, **changes: object) -> None:
        if direction not in ("upstream", "downstream", "both"):
            _bad(f"direction must be upstream, downstream or both, got {direction!r}")
        ways = ("upstream", "downstream") if direction == "both" else (direction,)
        for way in ways:
            self._conditions[way] = replace(self._conditions[way], **changes)  # type: ignore[arg-type]
        self._restart_counts()

    def _restart_counts(self) -> None:
        for link in self._links:
            link.sent = {"upstream": 0, "downstream": 0}

    # -- pumping ---------------------------------------------------------------------
    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # Reset before waiting: since 3.12 wait_closed() waits for open connections.
        self.reset_connections()
        if server is not None:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
            handler.add_done_callback(self._handlers.discard)
        if self._reset_new or self._is_down:
            _abort(writer, rst=True)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _abort(writer, rst=True)
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pump(link, reader, up_writer, "upstream")),
            asyncio.create_task(self._pump(link, up_reader, writer, "downstream")),
        ]
        try:
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            self._links.discard(link)
            _abort(writer)
            _abort(up_writer)

    async def _pump(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        way: Literal["upstream", "downstream"],
    ) -> None:
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    # Half-close: pass the end of stream on, keep the other way open.
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                if not await self._forward(link, writer, way, data):
                    link.reset()
                    return
        except (ConnectionError, OSError):
            link.reset()

    async def _forward(
        self,
        link: _Link,
        writer: asyncio.StreamWriter,
        way: Way,
        data: bytes,
    ) -> bool:
        """Send ``data`` under the current conditions; False when the link must close."""
        cond = self._conditions[way]
        if self._frames is not None:
            data = self._undropped(link, way, data, cond)
            if not data:
                return True
        if cond.clean:
            writer.write(data)
            await writer.drain()
            self.bytes[way] += len(data)
            return True
        if cond.blackhole:
            return True
        delay = cond.latency
        if cond.jitter:
            delay = max(0.0, delay + (self._random() * 2 - 1) * cond.jitter)
        if delay:
            await self.clock.asleep(delay)
        cut = False
        if cond.cut_after is not None:
            room = cond.cut_after - link.sent[way]
            if room <= len(data):
                data, cut = data[: max(room, 0)], True
        size = cond.slice_size or len(data) or 1
        for offset in range(0, len(data), size):
            piece = data[offset : offset + size]
            if offset and cond.slice_delay:
                await self.clock.asleep(cond.slice_delay)
            if cond.bandwidth is not None:
                await self.clock.asleep(len(piece) / cond.bandwidth)
            writer.write(piece)
            await writer.drain()
            link.sent[way] += len(piece)
            self.bytes[way] += len(piece)
        return not cut

    def _undropped(self, link: _Link, way: Way, data: bytes, cond: LinkConditions) -> bytes:
        """The whole frames of ``data`` that are let through (a partial one waits)."""
        assert self._frames is not None
        frames = link.frames.get(way)
        if frames is None:
            frames = link.frames[way] = self._frames()
        kept: list[bytes] = []
        for frame in frames.feed(data):
            if (
                cond.drop_rate
                and (cond.drop_match is None or cond.drop_match(frame))
                and self._random() < cond.drop_rate
            ):
                self.dropped[way] += 1
                if self.on_drop is not None:
                    self.on_drop(way, frame)
                continue
            kept.append(frame.raw)
        return b"".join(kept)


def _abort(writer: asyncio.StreamWriter, *, rst: bool = False) -> None:
    transport = writer.transport
    if transport.is_closing():
        return
    if rst:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
