"""Archive inspection after the adversarial review: symlinks whatever the "made by"
system, names equal after normalising, the local Unicode path, names too long at read."""

from __future__ import annotations

import io
import struct
import unicodedata
import warnings
import zipfile
import zlib

import pytest

from mitigate.guard.archive import ArchiveLimits, inspect_archive

_LINK, _FIFO, _CHAR = 0o120777, 0o010644, 0o020644


def _zip_with(name: str, *, system: int, mode: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.html", "<p>hi</p>")
        info = zipfile.ZipInfo(name)
        info.create_system = system
        info.external_attr = mode << 16
        z.writestr(info, "/etc/passwd")
    return buf.getvalue()


@pytest.mark.parametrize("system", [0, 3, 10, 19], ids=["msdos", "unix", "ntfs", "osx"])
def test_a_symlink_is_refused_whatever_system_made_it(system: int) -> None:
    report = inspect_archive(io.BytesIO(_zip_with("assets/link", system=system, mode=_LINK)))
    assert report.reason == "symlink", report.findings


@pytest.mark.parametrize("mode", [_FIFO, _CHAR], ids=["fifo", "char-device"])
def test_a_special_file_claiming_msdos_is_refused(mode: int) -> None:
    report = inspect_archive(io.BytesIO(_zip_with("assets/dev", system=0, mode=mode)))
    assert report.reason == "special_file", report.findings


def test_a_plain_msdos_entry_is_still_fine() -> None:
    report = inspect_archive(io.BytesIO(_zip_with("assets/a.txt", system=0, mode=0)))
    assert report.ok, report.findings


def _named(*names: str) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(buf, "w") as z:
            for i, name in enumerate(names):
                z.writestr(name, f"file {i}")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("a/x.html", "a/./x.html"),
        ("a/x.html", "a//x.html"),
        ("./a/x.html", "a/x.html"),
        (unicodedata.normalize("NFC", "café.html"), unicodedata.normalize("NFD", "café.html")),
        ("Index.HTML", "index.html"),
        ("a/", "a/./"),
    ],
    ids=["dot", "double-slash", "leading-dot", "nfc-nfd", "case", "dir"],
)
def test_names_equal_after_normalising_are_duplicates(first: str, second: str) -> None:
    report = inspect_archive(io.BytesIO(_named("index0.html", first, second)))
    assert "duplicate" in report.reasons(), report.findings


def _raw_zip(name: bytes, data: bytes, *, local_extra: bytes, central_extra: bytes) -> bytes:
    """One stored entry, with different extra fields in the local and central headers."""
    crc = zlib.crc32(data)
    local = struct.pack(
        "<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, len(data), len(data),
        len(name), len(local_extra),
    ) + name + local_extra  # fmt: skip
    central = struct.pack(
        "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, crc, len(data), len(data),
        len(name), len(central_extra), 0, 0, 0, 0, 0,
    ) + name + central_extra  # fmt: skip
    cd_offset = len(local) + len(data)
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), cd_offset, 0)
    return local + data + central + eocd


def _unicode_path(name: bytes, header_name: bytes) -> bytes:
    body = b"\x01" + struct.pack("<L", zlib.crc32(header_name)) + name
    return struct.pack("<HH", 0x7075, len(body)) + body


def test_a_unicode_path_only_in_the_local_header_is_checked_too() -> None:
    raw = _raw_zip(
        b"safe.txt",
        b"x",
        local_extra=_unicode_path(b"../evil.txt", b"safe.txt"),
        central_extra=b"",
    )
    assert zipfile.ZipFile(io.BytesIO(raw)).read("safe.txt") == b"x"  # a valid zip
    report = inspect_archive(io.BytesIO(raw))
    assert report.reason == "name_mismatch", report.findings


def test_a_local_unicode_path_equal_to_the_name_is_fine() -> None:
    raw = _raw_zip(
        b"safe.txt", b"x", local_extra=_unicode_path(b"safe.txt", b"safe.txt"), central_extra=b""
    )
    assert inspect_archive(io.BytesIO(raw)).ok


def test_a_long_name_is_refused_at_its_record_before_the_rest_is_read() -> None:
    # The first record has a name past the limit; the second record is garbage. Reading
    # every record first (and holding every name) would report the garbage instead.
    good = _named("x" * 5000, "b.txt")
    cd_at = struct.unpack_from("<L", good, len(good) - 6)[0]
    first_len = 46 + 5000
    broken = bytearray(good)
    broken[cd_at + first_len : cd_at + first_len + 4] = b"XXXX"
    report = inspect_archive(io.BytesIO(bytes(broken)), ArchiveLimits(max_name_length=1024))
    assert [f.reason.value for f in report.findings] == ["bad_name"], report.findings
    assert "longer than 1024" in report.findings[0].detail
