"""Hypothesis: the archive inspector never crashes and never accepts modified content.

Some bytes of a zip are not covered by any checksum (timestamps in both headers must
agree, but e.g. the "version made by" byte is free). So the property is: a mutated
archive is either refused, or every entry it yields, read by an independent reader
(zipfile), has exactly the original name and bytes.
"""

from __future__ import annotations

import io
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mitigate.guard.archive import ArchiveLimits, inspect_archive

from . import corpus


def _archive(method: int) -> bytes:
    return corpus._zip(
        {
            "index.html": corpus.CLEAN_HTML,
            "scorm.js": corpus.CLEAN_JS,
            "media/clip.bin": bytes(range(256)) * 8,
        },
        method,
    )


ORIGINALS = [_archive(zipfile.ZIP_DEFLATED), _archive(zipfile.ZIP_STORED)]
LIMITS = ArchiveLimits(max_ratio=1000)
FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _contents(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


EXPECTED = [_contents(d) for d in ORIGINALS]


def test_the_originals_pass() -> None:
    for data in ORIGINALS:
        assert inspect_archive(io.BytesIO(data), LIMITS).ok


def _check(mutated: bytes, which: int) -> None:
    report = inspect_archive(io.BytesIO(mutated), LIMITS)  # must not raise
    if report.ok:
        assert _contents(mutated) == EXPECTED[which]
        assert [(e.name, e.size) for e in report.entries] == [
            (n, len(b)) for n, b in EXPECTED[which]
        ]


@FUZZ
@given(st.integers(0, 1), st.data())
def test_single_byte_changes(which: int, data: st.DataObject) -> None:
    raw = bytearray(ORIGINALS[which])
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    _check(bytes(raw), which)


@FUZZ
@given(st.integers(0, 1), st.data())
def test_several_byte_changes(which: int, data: st.DataObject) -> None:
    raw = bytearray(ORIGINALS[which])
    for _ in range(data.draw(st.integers(2, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    _check(bytes(raw), which)


@FUZZ
@given(st.integers(0, 1), st.data())
def test_truncation_and_insertion(which: int, data: st.DataObject) -> None:
    raw = ORIGINALS[which]
    i = data.draw(st.integers(0, len(raw)))
    if data.draw(st.booleans()):
        j = data.draw(st.integers(i, min(len(raw), i + 64)))
        mutated = raw[:i] + raw[j:]
    else:
        mutated = raw[:i] + data.draw(st.binary(min_size=1, max_size=32)) + raw[i:]
    if mutated != raw:
        report = inspect_archive(io.BytesIO(mutated), LIMITS)
        if report.ok:
            assert _contents(mutated) == EXPECTED[which]


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    report = inspect_archive(io.BytesIO(data), LIMITS)
    assert not report.ok  # random bytes are never a valid archive


@FUZZ
@given(st.binary(max_size=300))
def test_garbage_with_a_zip_end_record_never_crashes(data: bytes) -> None:
    # An end record pointing into garbage: the parser must refuse, not wander.
    eocd = b"PK\x05\x06" + data[:18].ljust(18, b"\x00")
    report = inspect_archive(io.BytesIO(data + eocd), LIMITS)
    assert report.ok is (not report.findings)
    if report.ok:  # only an empty archive can pass: no entry comes out of garbage
        assert report.entries == () and report.total_uncompressed == 0


def test_every_single_byte_flip_is_refused_or_harmless() -> None:
    """Exhaustive, deterministic companion to the random search above."""
    refused = 0
    for which, original in enumerate(ORIGINALS):
        for i in range(len(original)):
            for mask in (0x01, 0x80, 0xFF):
                raw = bytearray(original)
                raw[i] ^= mask
                report = inspect_archive(io.BytesIO(bytes(raw)), LIMITS)
                if report.ok:
                    assert _contents(bytes(raw)) == EXPECTED[which], (which, i, mask)
                else:
                    refused += 1
    total = 3 * sum(len(o) for o in ORIGINALS)
    assert refused > 0.95 * total  # only a few metadata bytes are free
