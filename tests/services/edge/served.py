"""Start the edge service as a real process (``mitigate serve edge``) for tests."""

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
from typing import Any

import httpx
from services.edge.harness import write_tenants


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
def serve_edge(
    tmp: Path, backend: str = "embedded", tenants: dict[str, Any] | None = None
) -> Iterator[Served]:
    port = free_port()
    data = tmp / "data"
    write_tenants(data / "tenants", tenants)
    env = {
        **os.environ,
        "EDGE_DATA_DIR": str(data),
        "EDGE_SCHEMA_NAME": f"edge_t{uuid.uuid4().hex[:8]}",
        "EDGE_KV_PREFIX": f"edge:t{uuid.uuid4().hex[:8]}:",
    }
    log = tmp / "serve.log"
    argv = [sys.executable, "-m", "mitigate.cli", "serve", "edge", "--port", str(port)]
    argv += ["--backend", backend]
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
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
