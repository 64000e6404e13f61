"""Inspection of uploaded zip archives (SCORM packages), streamed, before anything is unpacked.

:func:`inspect_archive` reads the archive from a seekable binary file, one bounded chunk
at a time (memory stays at a few hundred KiB whatever the archive's size), and returns an
:class:`InspectionReport`. It rejects, each with its own reason:

- archives over ``max_archive_bytes`` (500 MiB by default, per tenant configurable) and
  directories with more than ``max_entries`` entries;
- names that traverse (``..``), are absolute (``/x``, ``C:\\x``), empty or odd;
- symlinks and other special files (by the mode bits, whatever system the entry claims
  to be made on); encrypted entries; methods other than stored/deflate;
- duplicate names (equal after normalising: case, NFC/NFD, ``a/./x``, ``a//x``),
  overlapping entries, bytes that no
  entry accounts for, local headers that disagree with the central directory;
- zip bombs: an entry whose output passes ``max_ratio`` times its compressed size, or a
  total output past ``max_total_uncompressed``, counted on the bytes really inflated, never
  on the sizes the headers claim; and a declared size or CRC-32 that the data does not have;
- nested archives (policy: reject, allow, or inspect one level down);
- script files calling ``eval``/``Function`` or the network (``fetch``, ``XMLHttpRequest``,
  ``WebSocket``, ``sendBeacon``, ...), unless ``scripts="allow"``.

>>> import io, zipfile
>>> buf = io.BytesIO()
>>> with zipfile.ZipFile(buf, "w") as z:
...     z.writestr("index.html", "<p>hello</p>")
...     z.writestr("../../etc/cron.d/x", "boom")
>>> report = inspect_archive(buf)
>>> report.ok, report.reason, report.findings[0].entry
(False, 'traversal', '../../etc/cron.d/x')

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextlib
import enum
import re
import struct
import tempfile
import unicodedata
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Literal

from mitigate.errors import ConfigError
from mitigate.guard import _zipread as zr
from mitigate.guard.errors import ArchiveRejectedError
from mitigate.guard.script_scan import ScriptScan, is_script

__all__ = [
    "ArchiveLimits",
    "EntrySummary",
    "Finding",
    "InspectionReport",
    "Reason",
    "aspool_upload",
    "inspect_archive",
    "spool_upload",
]

MiB = 1024 * 1024
GiB = 1024 * MiB


class Reason(enum.StrEnum):
    """Why an archive was rejected; the error code is ``MITIGATE.ARCHIVE.<NAME>``."""

    OVERSIZE = "oversize"
    TOO_MANY_ENTRIES = "too_many_entries"
    MALFORMED = "malformed"
    TRAVERSAL = "traversal"
    ABSOLUTE_PATH = "absolute_path"
    BAD_NAME = "bad_name"
    SYMLINK = "symlink"
    SPECIAL_FILE = "special_file"
    ENCRYPTED = "encrypted"
    UNSUPPORTED_METHOD = "unsupported_method"
    DUPLICATE = "duplicate"
    NAME_MISMATCH = "name_mismatch"
    OVERLAP = "overlap"
    GAP = "gap"
    BOMB_RATIO = "bomb_ratio"
    BOMB_TOTAL = "bomb_total"
    SIZE_MISMATCH = "size_mismatch"
    CORRUPT = "corrupt"
    NESTED_ARCHIVE = "nested_archive"
    SCRIPT_EVAL = "script_eval"
    SCRIPT_NETWORK = "script_network"

    @property
    def code(self) -> str:
        return f"MITIGATE.ARCHIVE.{self.name}"


NestedPolicy = Literal["reject", "allow", "inspect"]
ScriptPolicy = Literal["reject", "allow"]

_NESTED_SUFFIXES = frozenset(
    {
        ".zip",
        ".jar",
        ".war",
        ".ear",
        ".apk",
        ".ipa",
        ".epub",
        ".docx",
        ".xlsx",
        ".pptx",
        ".odt",
        ".7z",
        ".rar",
        ".tar",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".zst",
        ".cab",
        ".iso",
        ".lz",
        ".lzma",
        ".z",
    }
)
_NESTED_MAGIC = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"\x28\xb5\x2f\xfd",
    b"MSCF",
)
_DRIVE = re.compile(r"^[A-Za-z]:")
_S_IFMT, _S_IFREG, _S_IFDIR, _S_IFLNK = 0o170000, 0o100000, 0o040000, 0o120000


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """What an archive may be. Defaults suit SCORM packages; raise them per tenant.

    >>> ArchiveLimits(max_archive_bytes=0)
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.INVALID] archive limits: max_archive_bytes must be >= 1
    """

    max_archive_bytes: int = 500 * MiB
    max_entries: int = 10_000
    max_total_uncompressed: int = 5 * GiB
    max_ratio: float = 100.0
    # Ratios are judged once an entry has produced this much: small, very compressible
    # files (a CSS file of spaces) are not bombs.
    ratio_floor: int = 1 * MiB
    max_name_length: int = 1024  # bytes as stored, checked as each record is read
    nested: NestedPolicy = "reject"
    scripts: ScriptPolicy = "reject"
    max_findings: int = 100

    def __post_init__(self) -> None:
        for name in (
            "max_archive_bytes",
            "max_entries",
            "max_total_uncompressed",
            "max_name_length",
            "max_findings",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError("archive limits", f"{name} must be >= 1")
        if not self.max_ratio >= 1:
            raise ConfigError("archive limits", "max_ratio must be >= 1")
        if self.ratio_floor < 0:
            raise ConfigError("archive limits", "ratio_floor must be >= 0")
        if self.nested not in ("reject", "allow", "inspect"):
            raise ConfigError(
                "archive limits", f"nested must be reject|allow|inspect, not {self.nested!r}"
            )
        if self.scripts not in ("reject", "allow"):
            raise ConfigError(
                "archive limits", f"scripts must be reject|allow, not {self.scripts!r}"
            )


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason to reject, and the entry it is about (empty for the whole archive)."""

    reason: Reason
    entry: str
    detail: str

    @property
    def code(self) -> str:
        return self.reason.code


@dataclass(frozen=True, slots=True)
class EntrySummary:
    name: str
    size: int
    compressed_size: int
    crc32: int
    is_dir: bool


@dataclass(frozen=True, slots=True)
class InspectionReport:
    """The verdict on one archive: ``ok`` when nothing was found."""

    archive_size: int
    findings: tuple[Finding, ...] = ()
    entries: tuple[EntrySummary, ...] = ()
    total_uncompressed: int = 0
    flagged_scripts: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def reason(self) -> str | None:
        """The first finding's reason (the one a quarantine record leads with)."""
        return self.findings[0].reason.value if self.findings else None

    def reasons(self) -> set[str]:
        return {f.reason.value for f in self.findings}


class _StoppedError(Exception):
    """Inspection ends here (a bomb, the finding cap)."""


class _Inspection:
    def __init__(self, f: BinaryIO, limits: ArchiveLimits, prefix: str, budget: int) -> None:
        self.f = f
        self.limits = limits
        self.prefix = prefix
        self.budget = budget  # uncompressed bytes this archive may still produce
        self.findings: list[Finding] = []
        self.summaries: list[EntrySummary] = []
        self.produced = 0
        self.flagged: list[str] = []

    def add(self, reason: Reason | str, entry: str, detail: str) -> None:
        self.findings.append(Finding(Reason(reason), self.prefix + entry, detail))
        if len(self.findings) >= self.limits.max_findings:
            raise _StoppedError

    def run(self) -> int:
        size = zr.file_size(self.f)
        if size > self.limits.max_archive_bytes:
            self.add(Reason.OVERSIZE, "", f"{size} bytes (limit {self.limits.max_archive_bytes})")
            return size
        try:
            directory = zr.read_directory(self.f, size)
            entries = list(
                zr.iter_entries(
                    self.f, directory, self.limits.max_entries, self.limits.max_name_length
                )
            )
        except zr.ZipFormatError as exc:
            self.add(exc.reason, exc.entry, exc.detail)
            return size
        self.check_names(entries)
        layouts = self.check_layout(entries, directory, size)
        if self.findings:
            return size  # never inflate what is structurally wrong
        for entry in entries:
            self.stream(entry, layouts[entry.index])
        return size

    def check_names(self, entries: list[zr.Entry]) -> None:
        seen: dict[str, str] = {}
        for e in entries:
            name = e.name
            problem = _name_problem(name, self.limits.max_name_length)
            if problem is not None:
                self.add(problem[0], name, problem[1])
            if e.unicode_path is not None and e.unicode_path != name:
                self.add(Reason.NAME_MISMATCH, name, f"unicode path extra says {e.unicode_path!r}")
            kind = e.mode & _S_IFMT
            if kind == _S_IFLNK:
                self.add(Reason.SYMLINK, name, "symbolic link entry")
            elif kind not in (0, _S_IFREG, _S_IFDIR):
                self.add(Reason.SPECIAL_FILE, name, f"file type {oct(kind)}")
            if e.flags & 0x41:
                self.add(Reason.ENCRYPTED, name, "encrypted entries cannot be inspected")
            if e.flags & 0x20:
                # Patched data (PKWARE flag bit 5): unzip tools refuse or misread it.
                self.add(Reason.UNSUPPORTED_METHOD, name, "compressed patched data (flag bit 5)")
            if e.method not in (zr.STORED, zr.DEFLATED):
                self.add(Reason.UNSUPPORTED_METHOD, name, f"compression method {e.method}")
            elif e.method == zr.STORED and e.compressed_size != e.file_size:
                self.add(Reason.SIZE_MISMATCH, name, "stored entry with two sizes")
            if e.is_dir and e.file_size:
                self.add(Reason.BAD_NAME, name, "directory entry with content")
            folded = _name_key(name)
            if folded in seen:
                self.add(Reason.DUPLICATE, name, f"same name as {seen[folded]!r}")
            else:
                seen[folded] = name
            declared = e.file_size
            if declared > self.budget or declared > self.limits.max_total_uncompressed:
                self.add(Reason.BOMB_TOTAL, name, f"declares {declared} bytes uncompressed")

    def check_layout(
        self, entries: list[zr.Entry], directory: zr.Directory, size: int
    ) -> dict[int, zr.Layout]:
        layouts: dict[int, zr.Layout] = {}
        errors: list[zr.ZipFormatError] = []
        spans: list[tuple[int, int, str]] = []
        for e in entries:
            try:
                layout = zr.read_layout(self.f, e, size)
            except zr.ZipFormatError as exc:
                errors.append(exc)
                spans.append((e.header_offset, e.header_offset + 30, e.name))
                continue
            layouts[e.index] = layout
            spans.append((e.header_offset, layout.end, e.name))
        # Entries must tile the bytes before the central directory exactly: no two
        # share bytes (Fifield's overlapping bomb), none hides data in a gap. Overlap is
        # reported first: it is why the local headers then disagree.
        spans.sort()
        cursor, previous = 0, ""
        for start, end, name in spans:
            if start < cursor:
                self.add(Reason.OVERLAP, name, f"starts inside {previous!r}")
            elif start > cursor and not errors:
                self.add(Reason.GAP, name, f"{start - cursor} unaccounted bytes before it")
            cursor, previous = max(cursor, end), name
        if cursor > directory.offset:
            self.add(Reason.OVERLAP, previous, "runs into the central directory")
        elif cursor < directory.offset and not errors:
            self.add(Reason.GAP, "", f"{directory.offset - cursor} bytes before the directory")
        for problem in errors:
            self.add(problem.reason, problem.entry, problem.detail)
        return layouts

    def stream(self, entry: zr.Entry, layout: zr.Layout) -> None:
        limits = self.limits
        name = entry.name
        scan = ScriptScan() if limits.scripts == "reject" and is_script(name) else None
        nested_by_name = _nested_name(name)
        if nested_by_name and limits.nested == "reject":
            self.add(Reason.NESTED_ARCHIVE, name, "archive inside the archive")
            return
        try:
            produced = self._inflate(entry, layout, scan, nested_by_name)
        except zr.ZipFormatError as exc:
            self.add(exc.reason, name, exc.detail)
            return
        if produced is None:
            return
        self.summaries.append(
            EntrySummary(name, produced, entry.compressed_size, entry.crc32, entry.is_dir)
        )
        if scan is not None:
            for kind, match in scan.findings():
                self.flagged.append(name)
                self.add(kind, name, f"script uses {match!r}")

    def _inflate(
        self, entry: zr.Entry, layout: zr.Layout, scan: ScriptScan | None, nested: bool
    ) -> int | None:
        """Stream one entry through the checks; the bytes it produced, or None if refused."""
        limits = self.limits
        name = entry.name
        produced = 0
        ratio_cap = limits.max_ratio * max(entry.compressed_size, 1)
        spool: BinaryIO | None = None
        first = True
        try:
            for chunk in zr.stream_entry(self.f, entry, layout):
                produced += len(chunk)
                self.produced += len(chunk)
                if self.produced > self.budget or self.produced > limits.max_total_uncompressed:
                    self.add(
                        Reason.BOMB_TOTAL,
                        name,
                        f"output passed {min(self.budget, limits.max_total_uncompressed)} bytes",
                    )
                    raise _StoppedError
                if produced > limits.ratio_floor and produced > ratio_cap:
                    self.add(
                        Reason.BOMB_RATIO,
                        name,
                        f"more than {limits.max_ratio:g}x its compressed size",
                    )
                    raise _StoppedError
                if first:
                    first = False
                    if not nested and chunk.startswith(_NESTED_MAGIC):
                        if limits.nested == "reject":
                            self.add(
                                Reason.NESTED_ARCHIVE, name, "archive content inside the archive"
                            )
                            return None
                        nested = True
                    if nested and limits.nested == "inspect":
                        spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finally)
                if spool is not None:
                    spool.write(chunk)
                if scan is not None:
                    scan.feed(chunk)
            if spool is not None:
                self.inspect_nested(name, spool)
        finally:
            if spool is not None:
                spool.close()
        return produced

    def inspect_nested(self, name: str, spool: BinaryIO) -> None:
        spool.seek(0)
        if not spool.read(4).startswith((b"PK\x03\x04", b"PK\x05\x06")):
            self.add(
                Reason.NESTED_ARCHIVE, name, "nested archive in a format that cannot be inspected"
            )
            return
        inner_limits = replace(self.limits, nested="reject")
        inner = _Inspection(
            spool, inner_limits, f"{self.prefix}{name}!/", self.budget - self.produced
        )
        with contextlib.suppress(_StoppedError):
            inner.run()
        self.produced += inner.produced
        for finding in inner.findings:
            self.findings.append(finding)
        self.flagged.extend(inner.flagged)
        if len(self.findings) >= self.limits.max_findings:
            raise _StoppedError


def inspect_archive(
    source: str | Path | BinaryIO, limits: ArchiveLimits | None = None
) -> InspectionReport:
    """Inspect a zip archive from a path or a seekable binary file (see the module text).

    Never raises on hostile input: every problem is a :class:`Finding` in the report.
    """
    limits = limits or ArchiveLimits()
    if isinstance(source, str | Path):
        with open(source, "rb") as f:
            return inspect_archive(f, limits)
    inspection = _Inspection(source, limits, "", limits.max_total_uncompressed)
    size = 0
    try:
        size = inspection.run()
    except _StoppedError:
        size = zr.file_size(source)
    except (ValueError, OverflowError, EOFError, struct.error) as exc:
        # The reader raises ZipFormatError for what it knows; anything else is still
        # a malformed archive, never a crash of the importer.
        inspection.findings.append(Finding(Reason.MALFORMED, "", f"unreadable: {exc!r}"))
    return InspectionReport(
        archive_size=size,
        findings=tuple(inspection.findings),
        entries=tuple(inspection.summaries),
        total_uncompressed=inspection.produced,
        flagged_scripts=tuple(dict.fromkeys(inspection.flagged)),
    )


def _name_problem(name: str, max_length: int) -> tuple[Reason, str] | None:
    if not name or name in ("/", "./"):
        return Reason.BAD_NAME, "empty name"
    if len(name) > max_length:
        return Reason.BAD_NAME, f"name longer than {max_length} characters"
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        return Reason.BAD_NAME, "control character in name"
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or name.startswith("//"):
        return Reason.ABSOLUTE_PATH, "absolute path"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return Reason.TRAVERSAL, "'..' in path"
    if "\\" in name:
        return Reason.BAD_NAME, "backslash in name"
    if any(p.endswith((" ", ".")) and p not in ("", ".") for p in parts):
        return Reason.BAD_NAME, "a path part ends in a space or dot"
    return None


def _name_key(name: str) -> str:
    """The name as a file system would see it: ``a/./x``, ``a//x``, ``./a/x``, NFC or NFD
    and any case are one file (macOS and Windows fold case and normalisation)."""
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())
    return "/".join(p for p in text.replace("\\", "/").split("/") if p not in ("", "."))


def _nested_name(name: str) -> bool:
    dot = name.rfind(".")
    return dot >= 0 and name[dot:].lower() in _NESTED_SUFFIXES


# -- uploads -----------------------------------------------------------------------------


def spool_upload(
    chunks: Iterable[bytes], dest: BinaryIO, *, max_bytes: int, target: str = "archive.upload"
) -> int:
    """Copy an upload to ``dest`` and stop as soon as it passes ``max_bytes``.

    At most ``max_bytes`` plus one chunk is read; the caller drops ``dest`` on error.

    >>> import io
    >>> spool_upload([b"ab", b"cd", b"ef"], io.BytesIO(), max_bytes=3)
    Traceback (most recent call last):
    ...
    mitigate.ArchiveRejectedError: [MITIGATE.ARCHIVE.OVERSIZE] archive.upload: \
upload passed 3 bytes; rejected, too large
    """
    written = 0
    for chunk in chunks:
        written += len(chunk)
        if written > max_bytes:
            raise _too_large(target, max_bytes)
        dest.write(chunk)
    return written


async def aspool_upload(
    chunks: AsyncIterable[bytes], dest: BinaryIO, *, max_bytes: int, target: str = "archive.upload"
) -> int:
    """The async twin of :func:`spool_upload` (e.g. ``request.stream()`` in Starlette)."""
    written = 0
    async for chunk in chunks:
        written += len(chunk)
        if written > max_bytes:
            raise _too_large(target, max_bytes)
        dest.write(chunk)
    return written


def _too_large(target: str, max_bytes: int) -> ArchiveRejectedError:
    return ArchiveRejectedError(
        target,
        f"upload passed {max_bytes} bytes",
        code=Reason.OVERSIZE.code,
        hint="rejected, too large",
    )
