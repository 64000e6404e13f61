"""A strict, streaming reader of zip structure (PKWARE APPNOTE 6.3), for inspection only.

It reads the end record, walks the central directory one record at a time (so a hostile
directory cannot make us hold millions of entries), reads each local header, and streams
an entry's data through its own inflater (so a lying size field cannot make it produce
more, or less, than what is really there). Every read is bounded. Anything it does not
understand raises :class:`ZipFormatError`; it never extracts anything to disk.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

EOCD_SIG = b"PK\x05\x06"
ZIP64_LOCATOR_SIG = b"PK\x06\x07"
ZIP64_EOCD_SIG = b"PK\x06\x06"
CD_SIG = b"PK\x01\x02"
LOCAL_SIG = b"PK\x03\x04"
DESCRIPTOR_SIG = b"PK\x07\x08"

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CD = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")

STORED = 0
DEFLATED = 8
MAX_COMMENT = 0xFFFF
# APPNOTE 6.3 is the newest format a reader (ours, zipfile's) understands.
MAX_VERSION_NEEDED = 63
READ_CHUNK = 1024 * 1024
# Output bound per inflate call: memory stays at a few chunks whatever the ratio.
INFLATE_CHUNK = 256 * 1024


class ZipFormatError(ValueError):
    """The bytes are not a zip this reader accepts; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str, entry: str = "") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.entry = entry


@dataclass(frozen=True, slots=True)
class Directory:
    """Where the central directory is, and how many entries it claims."""

    entries: int
    offset: int
    size: int
    end: int  # offset of the first end record (zip64 or classic): the CD must reach it


@dataclass(frozen=True, slots=True)
class Entry:
    """One central directory record, with zip64 fields resolved."""

    index: int
    name: str
    raw_name: bytes
    flags: int
    method: int
    crc32: int
    compressed_size: int
    file_size: int
    header_offset: int
    create_system: int
    external_attr: int
    dos_time: int
    dos_date: int
    zip64: bool
    unicode_path: str | None

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def mode(self) -> int:
        # The Unix mode bits, whatever system the entry claims to be made on: extractors
        # (Info-ZIP, libarchive) honour a symlink mode on entries "made by" MS-DOS too.
        return (self.external_attr >> 16) & 0xFFFF


@dataclass(frozen=True, slots=True)
class Layout:
    """Where an entry's bytes really are, from its local header."""

    data_offset: int
    end: int  # after the data and the data descriptor


def file_size(f: BinaryIO) -> int:
    f.seek(0, 2)
    return f.tell()


def read_directory(f: BinaryIO, size: int) -> Directory:
    """Find and check the end records; the archive must end exactly after them."""
    if size < _EOCD.size:
        raise ZipFormatError("malformed", "too short to be a zip archive")
    tail_len = min(size, _EOCD.size + MAX_COMMENT)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    pos = tail.rfind(EOCD_SIG)
    while pos >= 0:
        # The real end record is the one whose comment reaches exactly to the end.
        if pos + _EOCD.size <= len(tail):
            fields = _EOCD.unpack_from(tail, pos)
            if pos + _EOCD.size + fields[7] == len(tail):
                break
        pos = tail.rfind(EOCD_SIG, 0, pos)
    else:
        raise ZipFormatError("malformed", "no end of central directory record at the end")
    (_, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, _comment_len) = fields
    eocd_at = size - tail_len + pos
    if disk or cd_disk or n_disk != n_total:
        raise ZipFormatError("malformed", "multi-disk archives are not accepted")
    end = eocd_at
    needs64 = 0xFFFF in (n_total,) or 0xFFFFFFFF in (cd_size, cd_offset)
    locator_at = eocd_at - _ZIP64_LOCATOR.size
    if locator_at >= 0:
        f.seek(locator_at)
        raw = f.read(_ZIP64_LOCATOR.size)
        if raw[:4] == ZIP64_LOCATOR_SIG:
            _, zdisk, z_eocd_at, zdisks = _ZIP64_LOCATOR.unpack(raw)
            if zdisk != 0 or zdisks > 1:
                raise ZipFormatError("malformed", "multi-disk zip64 archives are not accepted")
            if z_eocd_at + _ZIP64_EOCD.size != locator_at:
                raise ZipFormatError("gap", "bytes between the zip64 end record and its locator")
            f.seek(z_eocd_at)
            rec = f.read(_ZIP64_EOCD.size)
            if len(rec) != _ZIP64_EOCD.size or rec[:4] != ZIP64_EOCD_SIG:
                raise ZipFormatError("malformed", "zip64 end record missing")
            (_, rec_size, _, _, d, cd_d, n_d, n_t, cd_size, cd_offset) = _ZIP64_EOCD.unpack(rec)
            if rec_size != _ZIP64_EOCD.size - 12 or d or cd_d or n_d != n_t:
                raise ZipFormatError("malformed", "unsupported zip64 end record")
            n_total = n_t
            end = z_eocd_at
            needs64 = False
    if needs64:
        raise ZipFormatError("malformed", "zip64 sizes without a zip64 end record")
    if cd_offset + cd_size != end:
        raise ZipFormatError(
            "gap" if cd_offset + cd_size < end else "overlap",
            "the central directory does not end where the end record starts",
        )
    return Directory(entries=n_total, offset=cd_offset, size=cd_size, end=end)


def iter_entries(
    f: BinaryIO, directory: Directory, max_entries: int, max_name_bytes: int = 0xFFFF
) -> Iterator[Entry]:
    """Walk the central directory; stops with ``too_many_entries`` past ``max_entries``
    and with ``bad_name`` at the first record whose name (or Unicode path) is longer
    than ``max_name_bytes``, before reading it: the caller holds every entry, so each
    one's size must be bounded as it is read."""
    if directory.entries > max_entries:
        raise ZipFormatError(
            "too_many_entries", f"{directory.entries} entries (limit {max_entries})"
        )
    f.seek(directory.offset)
    pos = directory.offset
    index = 0
    while pos < directory.end:
        if index >= max_entries:
            raise ZipFormatError("too_many_entries", f"more than {max_entries} entries")
        f.seek(pos)
        head = f.read(_CD.size)
        if len(head) != _CD.size or head[:4] != CD_SIG:
            raise ZipFormatError("malformed", f"bad central directory record at {pos}")
        (
            _,
            ver_made,
            ver_needed,
            flags,
            method,
            dos_time,
            dos_date,
            crc,
            csize,
            usize,
            name_len,
            extra_len,
            comment_len,
            disk_start,
            _int_attr,
            ext_attr,
            offset,
        ) = _CD.unpack(head)
        if name_len > max_name_bytes:
            raise ZipFormatError(
                "bad_name", f"name of record {index} longer than {max_name_bytes} bytes"
            )
        var = f.read(name_len + extra_len + comment_len)
        if len(var) != name_len + extra_len + comment_len:
            raise ZipFormatError("malformed", "central directory record runs past the end")
        raw_name = var[:name_len]
        extra = var[name_len : name_len + extra_len]
        usize, csize, offset, disk_start, zip64 = _zip64(extra, usize, csize, offset, disk_start)
        if disk_start != 0:
            raise ZipFormatError("malformed", "entry on another disk")
        if ver_needed > MAX_VERSION_NEEDED:
            raise ZipFormatError("malformed", f"needs zip version {ver_needed / 10:.1f}")
        name = _decode_name(raw_name, flags)
        unicode_path = _unicode_path(extra, raw_name)
        if unicode_path is not None and len(unicode_path.encode()) > max_name_bytes:
            raise ZipFormatError(
                "bad_name", f"unicode path longer than {max_name_bytes} bytes", name[:64]
            )
        yield Entry(
            index=index,
            name=name,
            raw_name=raw_name,
            flags=flags,
            method=method,
            crc32=crc,
            compressed_size=csize,
            file_size=usize,
            header_offset=offset,
            create_system=ver_made >> 8,
            external_attr=ext_attr,
            dos_time=dos_time,
            dos_date=dos_date,
            zip64=zip64,
            unicode_path=unicode_path,
        )
        index += 1
        pos += _CD.size + len(var)
    if pos != directory.end:
        raise ZipFormatError("overlap", "the last central directory record overruns its end")
    if index != directory.entries:
        raise ZipFormatError(
            "malformed", f"the end record claims {directory.entries} entries, found {index}"
        )


def read_layout(f: BinaryIO, entry: Entry, archive_size: int) -> Layout:
    """Read the local header of ``entry`` and check it agrees with the directory."""
    f.seek(entry.header_offset)
    head = f.read(_LOCAL.size)
    if len(head) != _LOCAL.size or head[:4] != LOCAL_SIG:
        raise ZipFormatError("malformed", "no local header where the directory points", entry.name)
    (_, ver_needed, flags, method, l_time, l_date, crc, csize, usize, name_len, extra_len) = (
        _LOCAL.unpack(head)
    )
    var = f.read(name_len + extra_len)
    if len(var) != name_len + extra_len:
        raise ZipFormatError("malformed", "local header runs past the end", entry.name)
    if var[:name_len] != entry.raw_name:
        raise ZipFormatError(
            "name_mismatch", "local header names another file than the directory", entry.name
        )
    extra = var[name_len:]
    local_path = _unicode_path(extra, entry.raw_name)
    if local_path is not None and local_path != entry.name:
        # A streaming extractor reads names from local headers only.
        raise ZipFormatError(
            "name_mismatch", f"local unicode path extra says {local_path!r}", entry.name
        )
    usize, csize, _, _, _ = _zip64(extra, usize, csize, 0, 0, local=True)
    if ver_needed > MAX_VERSION_NEEDED:
        raise ZipFormatError("malformed", f"needs zip version {ver_needed / 10:.1f}", entry.name)
    mismatch = method != entry.method or (flags & 0x0809) != (entry.flags & 0x0809)
    mismatch |= (l_time, l_date) != (entry.dos_time, entry.dos_date)
    if not entry.flags & 0x08:
        mismatch |= (crc, csize, usize) != (entry.crc32, entry.compressed_size, entry.file_size)
    if mismatch:
        raise ZipFormatError(
            "name_mismatch", "local header disagrees with the central directory", entry.name
        )
    data_offset = entry.header_offset + _LOCAL.size + len(var)
    end = data_offset + entry.compressed_size
    if end > archive_size:
        raise ZipFormatError("malformed", "entry data runs past the end", entry.name)
    if entry.flags & 0x08:
        end = _descriptor_end(f, entry, end)
    return Layout(data_offset=data_offset, end=end)


def stream_entry(f: BinaryIO, entry: Entry, layout: Layout) -> Iterator[bytes]:
    """Yield the entry's uncompressed bytes in bounded chunks, checking as it goes:
    the inflater must end exactly at the compressed size, the output must have the
    declared size and CRC-32. Raises ZipFormatError otherwise."""
    left = entry.compressed_size
    pos = layout.data_offset
    produced = 0
    crc = 0
    inflater = zlib.decompressobj(-15) if entry.method == DEFLATED else None
    f.seek(pos)
    while left > 0:
        raw = f.read(min(READ_CHUNK, left))
        if not raw:
            raise ZipFormatError("malformed", "archive ended inside an entry", entry.name)
        left -= len(raw)
        if inflater is None:
            chunks: Iterator[bytes] = iter((raw,))
        else:
            chunks = _inflate(inflater, raw, entry)
        for out in chunks:
            produced += len(out)
            if produced > entry.file_size:  # the header lied: stop before inflating more
                raise ZipFormatError(
                    "size_mismatch",
                    f"data inflates past the declared {entry.file_size} bytes",
                    entry.name,
                )
            crc = zlib.crc32(out, crc)
            yield out
    if inflater is not None:
        tail = inflater.flush()
        if tail:
            produced += len(tail)
            crc = zlib.crc32(tail, crc)
            yield tail
        if not inflater.eof or inflater.unused_data:
            raise ZipFormatError(
                "corrupt", "deflate stream does not end at the compressed size", entry.name
            )
    if produced != entry.file_size:
        raise ZipFormatError(
            "size_mismatch",
            f"declared {entry.file_size} bytes, the data holds {produced}",
            entry.name,
        )
    if crc != entry.crc32:
        raise ZipFormatError("corrupt", "CRC-32 does not match", entry.name)


def _inflate(inflater: zlib._Decompress, raw: bytes, entry: Entry) -> Iterator[bytes]:
    data = raw
    while data:
        if inflater.eof:
            raise ZipFormatError("corrupt", "data after the end of the deflate stream", entry.name)
        try:
            out = inflater.decompress(data, INFLATE_CHUNK)
        except zlib.error as exc:
            raise ZipFormatError("corrupt", f"deflate error: {exc}", entry.name) from None
        data = inflater.unconsumed_tail
        if out:
            yield out


def _descriptor_end(f: BinaryIO, entry: Entry, data_end: int) -> int:
    f.seek(data_end)
    raw = f.read(24)
    at = 4 if raw[:4] == DESCRIPTOR_SIG else 0
    fmt = "<LQQ" if entry.zip64 else "<LLL"
    need = at + struct.calcsize(fmt)
    if len(raw) < need:
        raise ZipFormatError("malformed", "data descriptor runs past the end", entry.name)
    crc, csize, usize = struct.unpack_from(fmt, raw, at)
    if (crc, csize, usize) != (entry.crc32, entry.compressed_size, entry.file_size):
        raise ZipFormatError(
            "name_mismatch", "data descriptor disagrees with the central directory", entry.name
        )
    return data_end + need


def _zip64(
    extra: bytes, usize: int, csize: int, offset: int, disk: int, *, local: bool = False
) -> tuple[int, int, int, int, bool]:
    found = False
    for tag, body in _extras(extra):
        if tag != 0x0001:
            continue
        if found:
            raise ZipFormatError("malformed", "two zip64 extra fields")
        found = True
        values = list(struct.unpack_from(f"<{len(body) // 8}Q", body)) if body else []
        if local:  # a local zip64 field carries both sizes
            if 0xFFFFFFFF in (usize, csize):
                if len(values) < 2:
                    raise ZipFormatError("malformed", "zip64 extra field too short")
                usize, csize = values[0], values[1]
            continue
        if usize == 0xFFFFFFFF:
            usize = _pop(values)
        if csize == 0xFFFFFFFF:
            csize = _pop(values)
        if offset == 0xFFFFFFFF:
            offset = _pop(values)
        if disk == 0xFFFF:
            if len(body) % 8 != 4:
                raise ZipFormatError("malformed", "zip64 extra field has no disk number")
            disk = struct.unpack_from("<L", body, len(body) - 4)[0]
    return usize, csize, offset, disk, found


def _pop(values: list[int]) -> int:
    if not values:
        raise ZipFormatError("malformed", "zip64 extra field too short")
    return values.pop(0)


def _extras(extra: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos < len(extra):
        if pos + 4 > len(extra):
            raise ZipFormatError("malformed", "truncated extra field")
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        if len(body) != size:
            raise ZipFormatError("malformed", "extra field runs past its record")
        yield tag, body
        pos += 4 + size


def _decode_name(raw: bytes, flags: int) -> str:
    if flags & 0x800:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ZipFormatError("bad_name", "file name is not valid UTF-8") from None
    return raw.decode("cp437")


def _unicode_path(extra: bytes, raw_name: bytes) -> str | None:
    # Info-ZIP Unicode Path (0x7075): some extractors prefer it to the header name, so a
    # name that differs from it is two names for one entry.
    for tag, body in _extras(extra):
        if tag == 0x7075:
            if len(body) < 5 or body[0] != 1:
                raise ZipFormatError("malformed", "bad unicode path extra field")
            try:
                return body[5:].decode("utf-8")
            except UnicodeDecodeError:
                raise ZipFormatError("bad_name", "unicode path is not UTF-8") from None
    return None
