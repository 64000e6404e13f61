"""Start a service as a real process (``mitigate serve NAME``) for tests: a free port,
its own data folder, a PostgreSQL schema and NATS stream of its own, the log kept; the
process is stopped (SIGTERM: a clean stop exits 0) or killed when the test ends."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.services.real_servers import drop_schema_and_stream


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    data: Path
    log: Path

    def stop(self) -> int:
        """SIGTERM, then the exit code (a clean stop is 0)."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@contextmanager
def serve(
    name: str, tmp: Path, backend: str = "embedded", env: dict[str, str] | None = None
) -> Iterator[Served]:
    """The service ``name`` on ``backend``; ``env`` adds settings (``CONTENT_BUILDER``)."""
    port = free_port()
    unique = uuid.uuid4().hex[:8]
    data = tmp / "data"
    prefix = name.upper()
    settings = {
        f"{prefix}_DATA_DIR": str(data),
        f"{prefix}_SCHEMA_NAME": f"{name}_t{unique}",
        f"{prefix}_STREAM": f"{prefix}_T{unique.upper()}",
        f"{prefix}_SUBJECT_PREFIX": f"t{unique}.",
    }
    log = tmp / "serve.log"
    argv = [sys.executable, "-m", "mitigate.cli", "serve", name, "--port", str(port)]
    argv += ["--backend", backend]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv,
            env={**os.environ, **settings, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}", process, data, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited {process.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{served.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not come up: {log.read_text()}")
            time.sleep(0.2)
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if backend != "embedded":  # the run's schema and stream go with it
            asyncio.run(
                drop_schema_and_stream(
                    settings[f"{prefix}_SCHEMA_NAME"],
                    settings[f"{prefix}_STREAM"],
                    postgres="postgres" in backend,
                    jetstream="nats" in backend,
                )
            )
