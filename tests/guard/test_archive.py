"""Archive inspection: the hostile corpus is 100% quarantined with the right reason.

content.fm.1.4 (malicious SCORM zip) and authoring.fm.1.6 (oversized import).
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from pathlib import Path

import pytest

from mitigate.clock import VirtualClock
from mitigate.guard.archive import (
    ArchiveLimits,
    Reason,
    aspool_upload,
    inspect_archive,
    spool_upload,
)
from mitigate.guard.errors import ArchiveRejectedError, ImporterBlockedError
from mitigate.guard.quarantine import ArchiveGuard, ImporterGate, Quarantine
from mitigate.observe.events import ArchiveQuarantined, ImporterBlocked, Severity
from mitigate.observe.observers import Recorder

from . import corpus


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_hostile_corpus_is_all_quarantined_with_the_right_reason(tmp_path: Path) -> None:
    recorder = Recorder()
    clock = VirtualClock()
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    quarantine = Quarantine(tmp_path / "quarantine", clock=clock, observers=[recorder])
    originals: dict[str, str] = {}
    outcomes: dict[str, str | None] = {}
    for name, (case, expected) in corpus.HOSTILE.items():
        data, limits = corpus.build(case)
        tenant = f"tenant-{name}"
        guard = ArchiveGuard(quarantine=quarantine, tenant_limits={tenant: limits})
        path = uploads / f"{name}.zip"
        path.write_bytes(data)
        originals[name] = hashlib.sha256(data).hexdigest()
        before = _tree(tmp_path)
        with pytest.raises(ArchiveRejectedError) as info:
            guard.check(path, tenant=tenant)
        outcomes[name] = info.value.report.reason if info.value.report else None
        assert info.value.code == f"MITIGATE.ARCHIVE.{expected.upper()}"
        assert not path.exists()  # moved, not copied and left behind
        # Nothing was extracted anywhere: the only new files are the quarantine's.
        new = _tree(tmp_path) - before
        assert all(p.startswith("quarantine/") for p in new), new
        assert guard.gate.is_blocked(tenant)
        with pytest.raises(ImporterBlockedError, match="blocked pending security review"):
            guard.check(path, tenant=tenant)

    expected = {name: reason for name, (_, reason) in corpus.HOSTILE.items()}
    assert outcomes == expected  # 100 %, each with its reason
    records = {r.name: r for r in quarantine.records()}
    assert len(records) == len(corpus.HOSTILE)
    for name in corpus.HOSTILE:
        record = records[f"{name}.zip"]
        assert record.reason == expected[name]
        held = Path(record.path).read_bytes()
        assert hashlib.sha256(held).hexdigest() == record.sha256 == originals[name]
    events = recorder.of(ArchiveQuarantined)
    assert sorted(e.reason for e in events) == sorted(expected.values())
    assert len(recorder.of(ImporterBlocked)) == len(corpus.HOSTILE)


def test_a_clean_archive_of_another_tenant_imports_normally(tmp_path: Path) -> None:
    recorder = Recorder()
    quarantine = Quarantine(tmp_path / "q", clock=VirtualClock(), observers=[recorder])
    guard = ArchiveGuard(quarantine=quarantine)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(corpus.script_fetch())
    with pytest.raises(ArchiveRejectedError):
        guard.check(bad, tenant="acme")
    good = tmp_path / "good.zip"
    good.write_bytes(corpus.clean())
    report = guard.check(good, tenant="globex")
    assert report.ok and good.exists()
    assert [e.name for e in report.entries] == [
        "imsmanifest.xml",
        "index.html",
        "scorm.js",
        "media/",
        "media/clip.bin",
    ]
    assert report.total_uncompressed == sum(e.size for e in report.entries)
    blocked = recorder.of(ImporterBlocked)
    assert [(e.tenant, e.reason, e.severity) for e in blocked] == [
        ("acme", "script_network", Severity.CRITICAL)
    ]


def test_operator_clears_the_block(tmp_path: Path) -> None:
    gate = ImporterGate()
    guard = ArchiveGuard(quarantine=Quarantine(tmp_path / "q"), gate=gate)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(corpus.traversal())
    with pytest.raises(ArchiveRejectedError):
        guard.check(bad, tenant="acme")
    gate.clear("acme")
    good = tmp_path / "good.zip"
    good.write_bytes(corpus.clean())
    assert guard.check(good, tenant="acme").ok


def test_per_tenant_cap_lets_a_bigger_archive_through(tmp_path: Path) -> None:
    data = corpus.clean()
    small = ArchiveLimits(max_archive_bytes=len(data) - 1)
    big = ArchiveLimits(max_archive_bytes=len(data))
    guard = ArchiveGuard(
        quarantine=Quarantine(tmp_path / "q"), limits=small, tenant_limits={"premium": big}
    )
    for tenant, ok in (("premium", True), ("basic", False)):
        path = tmp_path / f"{tenant}.zip"
        path.write_bytes(data)
        if ok:
            assert guard.check(path, tenant=tenant).ok
        else:
            with pytest.raises(ArchiveRejectedError, match="oversize"):
                guard.check(path, tenant=tenant)


def test_default_cap_is_500_mib() -> None:
    assert ArchiveLimits().max_archive_bytes == 500 * 1024 * 1024


def test_scripts_and_nesting_can_be_allowed_by_policy() -> None:
    lenient = ArchiveLimits(scripts="allow", nested="allow")
    assert inspect_archive(io.BytesIO(corpus.script_fetch()), lenient).ok
    assert inspect_archive(io.BytesIO(corpus.nested_by_name()), lenient).ok


def test_nested_archives_can_be_inspected_one_level_down() -> None:
    inspect = ArchiveLimits(nested="inspect")
    assert inspect_archive(io.BytesIO(corpus.nested_by_name()), inspect).ok
    hostile_inside = corpus._zip({"index.html": corpus.CLEAN_HTML, "pkg.zip": corpus.traversal()})
    report = inspect_archive(io.BytesIO(hostile_inside), inspect)
    assert report.reason == "traversal"
    assert report.findings[0].entry == "pkg.zip!/../../etc/cron.d/evil"
    twice = corpus._zip({"a.zip": corpus.nested_by_name()})
    assert inspect_archive(io.BytesIO(twice), inspect).reason == "nested_archive"


def test_all_findings_are_listed_not_only_the_first() -> None:
    data = corpus._zip({"../a": "x", "/b": "y", "c/../../d": "z"})
    report = inspect_archive(io.BytesIO(data))
    assert [f.reason for f in report.findings] == [
        Reason.TRAVERSAL,
        Reason.ABSOLUTE_PATH,
        Reason.TRAVERSAL,
    ]


def test_data_descriptors_are_read_and_checked() -> None:
    class _Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.buf = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b) -> int:  # type: ignore[no-untyped-def, override]
            self.buf += b
            return len(b)

    out = _Unseekable()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", "A" * 5000)
        z.writestr("b.txt", "B" * 10)
    data = bytes(out.buf)
    assert zipfile.ZipFile(io.BytesIO(data)).infolist()[0].flag_bits & 0x08
    assert inspect_archive(io.BytesIO(data)).ok
    tampered = bytearray(data)
    at = tampered.find(b"PK\x07\x08")
    tampered[at + 4] ^= 0xFF  # the descriptor's CRC no longer matches the directory
    assert not inspect_archive(io.BytesIO(bytes(tampered))).ok


def test_zip64_records_are_understood() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z, z.open("big.txt", "w", force_zip64=True) as f:
        f.write(b"x" * 1000)
    assert inspect_archive(io.BytesIO(buf.getvalue())).ok
    assert inspect_archive(io.BytesIO(_as_zip64_end(corpus.clean()))).ok


def _as_zip64_end(data: bytes) -> bytes:
    """Rewrite a zip's end record as zip64 end record + locator + a saturated end record."""
    eocd_at = data.rfind(b"PK\x05\x06")
    (_, _, _, n_disk, n_total, cd_size, cd_offset, _) = struct.unpack_from(
        "<4s4H2LH", data, eocd_at
    )
    z64_at = eocd_at
    z64 = struct.pack(
        "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n_disk, n_total, cd_size, cd_offset
    )
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, z64_at, 1)
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:eocd_at] + z64 + locator + eocd


def test_unicode_path_extra_that_disagrees_is_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("safe.txt")
        name = b"../evil.txt"
        body = b"\x01" + struct.pack("<L", 0) + name
        info.extra = struct.pack("<HH", 0x7075, len(body)) + body
        z.writestr(info, "x")
    report = inspect_archive(io.BytesIO(buf.getvalue()))
    assert report.reason == "name_mismatch"


def test_trailing_bytes_after_the_end_record_are_refused() -> None:
    assert inspect_archive(io.BytesIO(corpus.clean() + b"junk")).reason == "malformed"


def test_a_path_source_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(corpus.clean())
    assert inspect_archive(path).ok


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_archive_bytes": 0},
        {"max_ratio": 0.5},
        {"nested": "maybe"},
        {"scripts": "flag"},
        {"ratio_floor": -1},
        {"max_entries": True},
    ],
)
def test_bad_limits_fail_at_configuration(kwargs: dict[str, object]) -> None:
    from mitigate.errors import ConfigError

    with pytest.raises(ConfigError):
        ArchiveLimits(**kwargs)  # type: ignore[arg-type]


def test_upload_spooling_stops_one_chunk_past_the_cap() -> None:
    read = 0

    def upload():  # type: ignore[no-untyped-def]
        nonlocal read
        for _ in range(1000):
            read += 64 * 1024
            yield b"x" * (64 * 1024)

    dest = io.BytesIO()
    cap = 500 * 1024
    with pytest.raises(ArchiveRejectedError) as info:
        spool_upload(upload(), dest, max_bytes=cap)
    assert info.value.code == "MITIGATE.ARCHIVE.OVERSIZE"
    assert "too large" in str(info.value)
    assert read <= cap + 64 * 1024
    assert dest.tell() <= cap


async def test_async_upload_spooling() -> None:
    async def upload():  # type: ignore[no-untyped-def]
        for _ in range(3):
            yield b"abc"

    dest = io.BytesIO()
    assert await aspool_upload(upload(), dest, max_bytes=9) == 9
    with pytest.raises(ArchiveRejectedError):
        await aspool_upload(upload(), io.BytesIO(), max_bytes=8)
