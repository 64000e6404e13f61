"""The package builder: each asset read once, streaming, into the package index (offset,
size, SHA-256 per asset). The upload step then streams the assets into the object store,
checking each against its SHA-256 as it passes: no staging copy, never all in memory.

Two ways to run it, one code path:

- :class:`InlineBuilder` builds in this process, fetching each asset through the
  ``asset.fetch`` pipeline (retry 500 ms, 2 s, 5 s in 10 s) chunk by chunk;
- :class:`ProcessBuilder` runs ``python -m services.content.adapters.builder`` as a
  subprocess under an address-space limit (content.fm.1.8: a sized worker). A build that
  outgrows it is killed by the kernel's limit, not the service, and is reported as
  :class:`BuilderOomError`.

Memory stays bounded by the chunk size in streaming mode, whatever the package size.
``streaming=False`` is the bulk path (each asset read whole), kept so the limit can be
shown to catch it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from services.kit.calls import PermanentError, call

__all__ = ["BuilderOomError", "BuiltPackage", "InlineBuilder", "ProcessBuilder", "index_files"]

CHUNK = 4 << 20  # big enough that hashing, not system calls, sets the pace


class BuilderOomError(PermanentError):
    code = "CONTENT.BUILD.OOM"


@dataclass(frozen=True, slots=True)
class BuiltPackage:
    size: int
    assets: list[dict[str, Any]]
    peak_rss: int = 0  # bytes, when measured (the builder process)


def index_files(sources: list[tuple[str, str]], *, streaming: bool = True) -> dict[str, Any]:
    """The package index of the files ``sources`` ([(path in package, file)]): offset, size
    and SHA-256 of each asset, read once. Synchronous: runs in the builder process."""
    assets = []
    offset = 0
    for inside, source in sources:
        digest = hashlib.sha256()
        size = 0
        with open(source, "rb") as f:
            if streaming:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
            else:
                whole = f.read()  # the bulk path: the whole asset in memory
                digest.update(whole)
                size = len(whole)
        entry = {"path": inside, "offset": offset, "size": size, "sha256": digest.hexdigest()}
        assets.append(entry)
        offset += size
    return {"size": offset, "assets": assets}


class InlineBuilder:
    """Build in this process, each asset fetched through the ``asset.fetch`` pipeline."""

    def __init__(self, source: Any, policy: Any) -> None:
        self.source = source
        self.policy = policy

    async def build(self, tenant: str, assets: list[tuple[str, str]]) -> BuiltPackage:
        index = []
        offset = 0
        for inside, name in assets:
            entry = await call(self.policy("asset.fetch"), self._hash, tenant, name, inside, offset)
            index.append(entry)
            offset += entry["size"]
        return BuiltPackage(offset, index)

    async def _hash(self, tenant: str, name: str, inside: str, offset: int) -> dict[str, Any]:
        digest = hashlib.sha256()
        size = 0
        async for chunk in self.source.read(tenant, name):
            digest.update(chunk)
            size += len(chunk)
        return {"path": inside, "offset": offset, "size": size, "sha256": digest.hexdigest()}


class ProcessBuilder:
    """Build in a subprocess limited to ``memory_mb`` of address space.

    ``blocking=True`` waits for the child synchronously: on a virtual clock the event loop
    must not look idle (and jump time) while real work runs in another process.
    """

    def __init__(
        self, source: Any, policy: Any, *, memory_mb: int = 512, blocking: bool = False
    ) -> None:
        self.source = source
        self.policy = policy
        self.memory_mb = memory_mb
        self.blocking = blocking

    async def build(
        self, tenant: str, assets: list[tuple[str, str]], *, streaming: bool = True
    ) -> BuiltPackage:
        files = []
        for inside, name in assets:
            # The fetch step of this builder: the asset must be there (missing: permanent).
            await call(self.policy("asset.fetch"), self.source.size, tenant, name)
            files.append((inside, str(self.source.path(tenant, name))))
        job = json.dumps({"sources": files, "streaming": streaming})
        argv = [sys.executable, "-m", "services.content.adapters.builder"]
        limit = self.memory_mb << 20
        if self.blocking:
            done = subprocess.run(  # noqa: ASYNC221 (see the class docstring)
                argv, input=job.encode(), capture_output=True, preexec_fn=_limit(limit), check=False
            )
            code, stdout, stderr = done.returncode, done.stdout, done.stderr
        else:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                preexec_fn=_limit(limit),
            )
            stdout, stderr = await proc.communicate(job.encode())
            code = proc.returncode or 0
        if code != 0:
            text = stderr.decode(errors="replace")
            if code < 0 or "MemoryError" in text:
                raise BuilderOomError(
                    f"[{BuilderOomError.code}] the builder ran out of its {self.memory_mb} MB "
                    f"memory limit (exit {code}); the build is parked for admin review"
                )
            raise RuntimeError(f"builder failed (exit {code}): {text[-500:]}")
        result = json.loads(stdout)
        return BuiltPackage(result["size"], result["assets"], result["peak_rss"])


def _limit(limit: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def _peak_rss() -> int:
    """This process's peak resident memory in bytes. Linux's VmHWM starts afresh at exec;
    ru_maxrss would also count the parent's pages copied by fork before it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    job = json.loads(sys.stdin.read())
    result = index_files([(a, b) for a, b in job["sources"]], streaming=job["streaming"])
    result["peak_rss"] = _peak_rss()
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
