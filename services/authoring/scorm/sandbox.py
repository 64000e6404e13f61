"""The sandboxed SCORM import worker: a child process under an address-space limit.

Run as a file (``python -I sandbox.py ZIP OUTDIR LIMIT_BYTES MODE``), importing the
standard library only, so its own footprint stays small beside the limit. It extracts
each entry of the zip into OUTDIR in 1 MiB chunks (MODE ``stream``), never holding an
entry or the archive in memory; MODE ``whole`` reads the archive into memory first (the
regression the limit exists for). It prints one JSON line per 4 MiB of progress and a
last line with the outcome and its peak RSS; over the limit it reports ``memory`` and
exits 3.
"""

from __future__ import annotations

import io
import json
import resource
import sys
import zipfile
from pathlib import Path, PurePosixPath

CHUNK = 1 << 20
EVERY = 4 << 20


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def peak_rss() -> int:
    """This program's peak RSS (VmHWM: ru_maxrss would keep the parent's, from before exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def safe(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def extract(archive: zipfile.ZipFile, out: Path, total: int) -> int:
    done, told, files = 0, 0, 0
    for info in archive.infolist():
        if info.is_dir():
            continue
        if not safe(info.filename):
            raise ValueError(f"unsafe entry name {info.filename!r}")
        dest = out / info.filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src, open(dest, "wb") as sink:
            while chunk := src.read(CHUNK):
                sink.write(chunk)
                done += len(chunk)
                if done - told >= EVERY:
                    say(progress=done, total=total)
                    told = done
        files += 1
    return files


def main(zip_path: str, out_dir: str, limit: int, mode: str) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        if mode == "whole":  # everything in memory at once
            with open(zip_path, "rb") as f:
                source: io.BytesIO | str = io.BytesIO(f.read())
        else:
            source = zip_path
        with zipfile.ZipFile(source) as archive:
            total = sum(i.file_size for i in archive.infolist())
            files = extract(archive, out, total)
    except MemoryError:
        say(ok=False, error="memory", peak=peak_rss())
        return 3
    except (zipfile.BadZipFile, ValueError) as exc:
        say(ok=False, error="invalid", detail=str(exc), peak=peak_rss())
        return 2
    say(ok=True, files=files, total=total, peak=peak_rss())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
