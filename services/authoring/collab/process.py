"""One collab process on its own (``python -m services.authoring.collab.process``): a
:class:`CollabServer` under uvicorn on the service's store, snapshotting every 60 s.

    python -m services.authoring.collab.process NAME PORT STORE_URL SCHEMA DATA_DIR
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from services.kit.runtime import Runtime

from ..schema import ensure_schema
from ..settings import AuthoringSettings
from .log import DocLog
from .server import CollabServer

__all__ = ["collab_app", "main"]


def collab_app(settings: AuthoringSettings, name: str) -> Starlette:
    holder: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await Runtime.open(settings)
        await ensure_schema(runtime.store)
        server = CollabServer(name, runtime, DocLog(runtime))
        holder["server"] = server
        stop = asyncio.Event()
        snapshots = asyncio.create_task(server.snapshots(stop))
        try:
            yield
        finally:
            stop.set()
            snapshots.cancel()
            await runtime.aclose()

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await holder["server"].app(scope, receive, send)

    return Starlette(routes=[Mount("/", app=inner)], lifespan=lifespan)


def main(argv: list[str]) -> int:
    name, port, store, schema, data_dir = argv
    settings = AuthoringSettings(
        store=store, schema_name=schema, data_dir=Path(data_dir)
    ).resolved()
    uvicorn.run(collab_app(settings, name), host="127.0.0.1", port=int(port), log_level="warning")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
