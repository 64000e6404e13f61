"""A SCORM zip generated as a stream (an importer's upload), not a stored file.

Stored (uncompressed) entries of zeros, so the archive is as large as its content; each
entry's CRC and sizes follow its data (a data descriptor), so nothing is computed ahead
and a 2 GB archive costs only the bytes actually read. ``pulled`` counts what the
reader took.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator

__all__ = ["CHUNK", "ZipStream"]

CHUNK = 1 << 20
_ZEROS = bytes(CHUNK)
MANIFEST = b'<manifest identifier="course"><resources/></manifest>'


class ZipStream:
    def __init__(self, size: int, *, entry: int = 64 << 20, stop_after: int | None = None) -> None:
        """About ``size`` bytes in entries of ``entry`` bytes; past ``stop_after`` bytes
        pulled the stream raises (a client that gives up on a server that reads on)."""
        self.size = size
        self.entry = entry
        self.stop_after = stop_after
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        central: list[bytes] = []
        offset = 0
        entries: list[tuple[str, bytes | int]] = [("imsmanifest.xml", MANIFEST)]
        left, n = self.size, 0
        while left > 0:
            entries.append((f"sco/asset-{n:04d}.bin", min(self.entry, left)))
            left -= self.entry
            n += 1
        for name, body in entries:
            raw = name.encode()
            head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0x08, 0, 0, 0, 0, 0, 0, len(raw), 0)
            crc, length = 0, 0
            yield await self._give(head + raw)
            parts = [body] if isinstance(body, bytes) else _zeros(body)
            for part in parts:
                crc = zlib.crc32(part, crc)
                length += len(part)
                yield await self._give(part)
            tail = struct.pack("<IIII", 0x08074B50, crc, length, length)
            yield await self._give(tail)
            central.append(
                struct.pack(
                    "<IHHHHHHIIIHHHHHII",
                    0x02014B50,
                    20,
                    20,
                    0x08,
                    0,
                    0,
                    0,
                    crc,
                    length,
                    length,
                    len(raw),
                    0,
                    0,
                    0,
                    0,
                    0,
                    offset,
                )
                + raw
            )
            offset += len(head) + len(raw) + length + len(tail)
        directory = b"".join(central)
        end = struct.pack(
            "<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), len(directory), offset, 0
        )
        yield await self._give(directory + end)

    async def _give(self, chunk: bytes) -> bytes:
        self.pulled += len(chunk)
        if self.stop_after is not None and self.pulled > self.stop_after:
            raise ConnectionAbortedError(f"the server read past {self.stop_after} bytes")
        return chunk


def _zeros(size: int) -> list[bytes]:
    full, rest = divmod(size, CHUNK)
    return [_ZEROS] * full + ([bytes(rest)] if rest else [])
