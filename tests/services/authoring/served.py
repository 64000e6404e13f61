"""Start the authoring service as a real process (``mitigate serve authoring``) for tests."""

from __future__ import annotations

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> int:
        """SIGTERM, then the exit code (a clean stop is 0)."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@contextmanager
def serve_authoring(tmp: Path, backend: str = "embedded") -> Iterator[Served]:
    port = free_port()
    unique = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "AUTHORING_DATA_DIR": str(tmp / "data"),
        "AUTHORING_SAGA_POLL": "0.2",
        "AUTHORING_SCHEMA_NAME": f"authoring_t{unique}",
        "AUTHORING_STREAM": f"AUTHORING_T{unique.upper()}",
        "AUTHORING_SUBJECT_PREFIX": f"t{unique}.",
    }
    log = tmp / "serve.log"
    argv = [sys.executable, "-m", "mitigate.cli", "serve", "authoring", "--port", str(port)]
    argv += ["--backend", backend]
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    served = Served(f"http://127.0.0.1:{port}", process, log)
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
