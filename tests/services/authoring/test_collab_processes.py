"""authoring.fm.1.7 / chaos.1 on real processes: two collab processes under uvicorn on one
PostgreSQL store, two editors over real WebSockets. The process serving the draft is
SIGKILLed while both editors hold unsent edits; they reconnect through the router to the
survivor and nothing is lost (on the survivor, both clients and the store alike)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import psycopg
from services.authoring.collab.client import CollabClient
from services.authoring.collab.log import DocLog
from services.authoring.collab.router import CollabRouter
from services.authoring.settings import AuthoringSettings
from services.kit.runtime import AllOn, Runtime
from services.kit.ws import RealWebSocket

import mitigate

ROOT = Path(__file__).resolve().parents[3]
STORE = os.environ.get("MITIGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _process(name: str, port: int, schema: str, data: Path) -> Iterator[subprocess.Popen[bytes]]:
    args = [sys.executable, "-m", "services.authoring.collab.process", name, str(port)]
    proc = subprocess.Popen([*args, STORE, schema, str(data)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _scenario(ports: dict[str, int], procs: dict[str, Any], schema: str) -> dict[str, Any]:
    clock = mitigate.RealClock()
    events: list[Any] = []
    side = SimpleNamespace(switches=AllOn(), emit=events.append, clock=clock)

    def client_for(name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[name]}", timeout=2)

    router = CollabRouter(side, list(ports), client_for)
    draft = f"d{uuid.uuid4().hex[:10]}"

    def editor(user: str) -> CollabClient:
        async def connect(name: str) -> RealWebSocket:
            return await RealWebSocket.connect(f"ws://127.0.0.1:{ports[name]}/v1/collab/{draft}")

        return CollabClient(
            user, draft, locate=lambda: router.route(draft), connect=connect, clock=clock
        )

    ann, bob = editor("ann"), editor("bob")
    try:
        await ann.join()
        await bob.join()
        await ann.edit("ann-1", "Intro")
        await bob.edit("bob-1", "Quiz")
        assert await ann.settled(10) and await bob.settled(10)
        host = ann.server
        assert host is not None and bob.server == host
        ann.edit_local("ann-2", "Intro, revised")  # typed, not yet sent
        bob.edit_local("bob-2", "Quiz answers")
        start = clock.now()
        procs[host].kill()  # SIGKILL
        settled = [await ann.settled(30), await bob.settled(30)]
        took = clock.now() - start
        settings = AuthoringSettings(store=STORE, schema_name=schema, data_dir=Path("/tmp"))
        runtime = await Runtime.open(settings)
        try:
            stored = (await DocLog(runtime).rebuild(draft)).blocks()
        finally:
            await runtime.aclose()
        return {
            "host": host,
            "servers": {ann.server, bob.server},
            "settled": settled,
            "took": took,
            "ann": ann.blocks(),
            "bob": bob.blocks(),
            "stored": stored,
            "down": [e.process for e in events if e.name == "collab.process_down"],
        }
    finally:
        await ann.close()
        await bob.close()
        await router.aclose()


def test_a_killed_collab_process_loses_no_edit(tmp_path: Path) -> None:
    schema = f"collab_{uuid.uuid4().hex[:10]}"
    ports = {"collab-a": _free_port(), "collab-b": _free_port()}
    try:
        with (
            _process("collab-a", ports["collab-a"], schema, tmp_path / "a") as a,
            _process("collab-b", ports["collab-b"], schema, tmp_path / "b") as b,
        ):
            result = asyncio.run(_scenario(ports, {"collab-a": a, "collab-b": b}, schema))
    finally:
        with psycopg.connect(STORE, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    expected = {"ann-1": "Intro", "ann-2": "Intro, revised", "bob-1": "Quiz"}
    expected |= {"bob-2": "Quiz answers"}
    assert result["settled"] == [True, True], result
    assert result["servers"] == {"collab-a", "collab-b"} - {result["host"]}, result
    assert result["down"] == [result["host"]], result
    assert result["took"] < 10, result
    assert result["ann"] == result["bob"] == result["stored"] == expected, result
