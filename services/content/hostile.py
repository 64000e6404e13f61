"""Hostile and clean SCORM zips, built in memory, for experiments and tests."""

from __future__ import annotations

import io
import stat
import zipfile

__all__ = ["HOSTILE", "clean_zip", "zip_of"]

MANIFEST = b'<?xml version="1.0"?><manifest identifier="course"><resources/></manifest>'


def zip_of(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def clean_zip() -> bytes:
    return zip_of(
        [
            ("imsmanifest.xml", MANIFEST),
            ("index.html", b"<html><script src='app.js'></script></html>"),
            ("app.js", b"document.title = 'Lesson 1';"),
        ]
    )


def _symlink(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    info.create_system = 3
    return info


# (variant, expected reason code, zip bytes)
HOSTILE: list[tuple[str, str, bytes]] = [
    ("traversal", "MITIGATE.ARCHIVE.TRAVERSAL", zip_of([("../../etc/cron.d/x", b"* * * * * x")])),
    ("absolute path", "MITIGATE.ARCHIVE.ABSOLUTE_PATH", zip_of([("/etc/passwd", b"root:x")])),
    ("symlink", "MITIGATE.ARCHIVE.SYMLINK", zip_of([(_symlink("link", "/etc"), b"/etc")])),
    ("eval", "MITIGATE.ARCHIVE.SCRIPT_EVAL", zip_of([("a.js", b"eval(atob(location.hash))")])),
    (
        "network",
        "MITIGATE.ARCHIVE.SCRIPT_NETWORK",
        zip_of([("b.js", b"new WebSocket('wss://x.example'); fetch('/steal')")]),
    ),
]
