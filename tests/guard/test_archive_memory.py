"""Acceptance: a valid 2 GiB archive is inspected with peak memory under 100 MB.

The archive is generated sparse (stored entries of zeros written as file holes), so it
takes no time and almost no disk; inspection still streams and CRC-checks all 2 GiB. The
inspection runs in a fresh interpreter and reports its own peak RSS, which includes the
interpreter and mitigate's imports. It reads VmHWM from /proc/self/status: ru_maxrss would
not do, because Linux carries the parent's high-water mark across fork and exec, so a
child of a large pytest process would report the parent's size. tracemalloc gives the
peak of Python allocations during the inspection itself.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

GiB = 1024**3
MiB = 1024**2
ENTRY = 64 * MiB
ENTRIES = 32  # 32 x 64 MiB = 2 GiB
PEAK_LIMIT_MB = 100


def _zeros_crc(size: int) -> int:
    block = bytes(MiB)
    crc = 0
    for _ in range(size // MiB):
        crc = zlib.crc32(block, crc)
    return crc


def write_sparse_zip(path: Path, entries: int = ENTRIES, size: int = ENTRY) -> int:
    crc = _zeros_crc(size)
    directory = bytearray()
    with open(path, "wb") as f:
        records = [(b"index.html", b"<p>2 GiB course</p>", zlib.crc32(b"<p>2 GiB course</p>"))]
        for name, data, c in records:
            offset = f.tell()
            f.write(_local(name, c, len(data)) + name + data)
            directory += _central(name, c, len(data), offset)
        for i in range(entries):
            name = f"media/blob-{i:02d}.bin".encode()
            offset = f.tell()
            f.write(_local(name, crc, size) + name)
            f.seek(size, 1)  # a hole: reads as zeros, costs no disk
            directory += _central(name, crc, size, offset)
        cd_offset = f.tell()
        f.write(directory)
        count = entries + len(records)
        f.write(
            struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), cd_offset, 0)
        )
        return f.tell()


def _local(name: bytes, crc: int, size: int) -> bytes:
    return struct.pack("<4s5H3L2H", b"PK\x03\x04", 10, 0, 0, 0, 0x21, crc, size, size, len(name), 0)


def _central(name: bytes, crc: int, size: int, offset: int) -> bytes:
    return (
        struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            10,
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


CHILD = textwrap.dedent(
    """
    import json, sys, time, tracemalloc
    from mitigate.guard.archive import ArchiveLimits, inspect_archive

    def hwm_kb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])

    base = hwm_kb()
    t = time.perf_counter()
    limits = ArchiveLimits(max_archive_bytes=3 * 1024**3, max_total_uncompressed=3 * 1024**3)
    tracemalloc.start()
    report = inspect_archive(sys.argv[1], limits)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({
        "ok": report.ok,
        "findings": [f.reason.value for f in report.findings],
        "entries": len(report.entries),
        "total": report.total_uncompressed,
        "baseline_kb": base,
        "peak_kb": hwm_kb(),
        "traced_peak": traced_peak,
        "seconds": time.perf_counter() - t,
    }))
    """
)


def test_a_2_gib_archive_is_inspected_under_100_mb(tmp_path: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("peak RSS is read from /proc/self/status (Linux)")
    path = tmp_path / "big.zip"
    size = write_sparse_zip(path)
    try:
        assert size > 2 * GiB
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
        )
    finally:
        path.unlink()
    result = json.loads(out.stdout)
    assert result["ok"], result["findings"]
    assert result["entries"] == ENTRIES + 1
    assert result["total"] == ENTRIES * ENTRY + len(b"<p>2 GiB course</p>")
    peak_mb = result["peak_kb"] / 1024
    print(
        f"\n2 GiB archive: peak RSS {peak_mb:.1f} MB (interpreter + imports "
        f"{result['baseline_kb'] / 1024:.1f} MB; Python allocations during inspection peak "
        f"{result['traced_peak'] / 1024**2:.2f} MB), inspected in {result['seconds']:.1f} s"
    )
    assert peak_mb < PEAK_LIMIT_MB
    assert result["traced_peak"] < 16 * MiB
