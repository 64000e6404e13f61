"""Start the comms service as a real process (``mitigate serve comms``) for tests."""

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

OPS_TOKEN = "local-operator"  # the settings' default operator token


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
def serve_comms(tmp: Path, backend: str = "embedded") -> Iterator[Served]:
    port = free_port()
    unique = uuid.uuid4().hex[:8]
    data = tmp / "data"
    env = {
        **os.environ,
        "COMMS_DATA_DIR": str(data),
        "COMMS_SCHEMA_NAME": f"comms_t{unique}",
        "COMMS_STREAM": f"COMMS_T{unique.upper()}",
        "COMMS_SUBJECT_PREFIX": f"t{unique}.",
        "COMMS_POLL": "0.2",
    }
    log = tmp / "serve.log"
    argv = [sys.executable, "-m", "mitigate.cli", "serve", "comms", "--port", str(port)]
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
