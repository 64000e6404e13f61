"""Starting and stopping a service as a separate process for the load benches (edge, theme):
the load comes from this process, the server runs in its own, both on 127.0.0.1."""

from __future__ import annotations

import signal
import socket
import subprocess
import tempfile
import time

import httpx

__all__ = ["free_port", "serve_bare", "start", "stop"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(argv: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    """Run ``argv`` and wait (at most 60 s) until ``url`` serves its OpenAPI (on failure,
    the error names the end of what the server wrote)."""
    # The server keeps its own handle on the (unlinked) file; ours closes on return.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        process.kill()
        process.wait()
        log.seek(0)
        tail = log.read()[-2000:].decode(errors="replace")
    raise RuntimeError(f"server did not start: {argv}\n{tail}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean stop), then kill after 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def serve_bare(app: object, port: int) -> int:
    """Serve a bench's bare baseline app on 127.0.0.1 (its ``--bare-server`` mode)."""
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    return 0
