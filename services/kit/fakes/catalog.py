"""A fake of the catalog service (another team's): package registrations over HTTP, and a
consumer of ``content.package.built.v1`` on the bus that makes a registered package live.

HTTP (the shape the content service's client speaks):

- ``POST /v1/packages`` ``{"packageId", "tenant", "draftId", "digest"}`` -> 201 pending
  (a repeat with the same id answers 200 with the stored registration: idempotent);
- ``GET /v1/packages/{id}`` -> the registration (``pending``, ``live``, ``withdrawn``);
- ``DELETE /v1/packages/{id}`` -> 204 (withdrawn; a compensation may send it twice);
- ``POST /_fake/fail`` ``{"times": n, "status": 503}``: answer the next n requests with
  that status (a scripted outage for real-time tests).

Bus: :meth:`FakeCatalog.consumer` handles each built event once (inbox dedupe on the
message id): a ``pending`` registration becomes ``live``; a late event for a withdrawn or
unknown package changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import mitigate

__all__ = ["BUILT_SUBJECT", "FakeCatalog"]

BUILT_SUBJECT = "content.package.built.v1"

_TABLES = (
    """CREATE TABLE IF NOT EXISTS fake_catalog_packages (
    package_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, draft_id TEXT NOT NULL,
    digest TEXT NOT NULL, status TEXT NOT NULL, built_events INTEGER NOT NULL DEFAULT 0)""",
    # Every built event the catalog applied, in the order it applied them.
    """CREATE TABLE IF NOT EXISTS fake_catalog_applied (
    n INTEGER NOT NULL, msg_id TEXT NOT NULL, aggregate TEXT, package_id TEXT NOT NULL)""",
)


class FakeCatalog:
    """The fake catalog service on a store of its own (or a shared one: its tables are
    prefixed ``fake_catalog_``)."""

    def __init__(self, store: Any, *, dedupe: bool = True) -> None:
        self.store = store
        self.dedupe = dedupe
        self.inbox = mitigate.Inbox(store, "catalog")
        self._fail: list[int] = []  # statuses to answer with, one per coming request
        self.requests = 0
        self._applied = 0
        self.app = Starlette(
            routes=[
                Route("/v1/packages", self._register, methods=["POST"]),
                Route("/v1/packages/{package_id}", self._get, methods=["GET"]),
                Route("/v1/packages/{package_id}", self._withdraw, methods=["DELETE"]),
                Route("/_fake/fail", self._script, methods=["POST"]),
            ]
        )

    async def setup(self) -> FakeCatalog:
        async with self.store.transaction() as tx:
            for sql in _TABLES:
                await tx.execute(sql)
            row = await tx.fetchone("SELECT COALESCE(MAX(n), 0) FROM fake_catalog_applied")
        self._applied = int(row[0]) if row else 0
        return self

    # -- HTTP ---------------------------------------------------------------------------
    def _scripted(self) -> Response | None:
        self.requests += 1
        if self._fail:
            status = self._fail.pop(0)
            return JSONResponse({"error": "scripted failure"}, status_code=status)
        return None

    async def _script(self, request: Request) -> Response:
        body = await request.json()
        self._fail += [int(body.get("status", 503))] * int(body.get("times", 1))
        return JSONResponse({"scripted": len(self._fail)})

    async def _register(self, request: Request) -> Response:
        if (failed := self._scripted()) is not None:
            return failed
        try:
            body = json.loads(await request.body())
            package, tenant = str(body["packageId"]), str(body["tenant"])
            draft, digest = str(body["draftId"]), str(body["digest"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "packageId, tenant, draftId, digest required"}, 400)
        async with self.store.transaction() as tx:
            added = await tx.execute(
                "INSERT INTO fake_catalog_packages (package_id, tenant, draft_id, digest, status)"
                " VALUES (?, ?, ?, ?, 'pending') ON CONFLICT (package_id) DO NOTHING",
                (package, tenant, draft, digest),
            )
        found = await self.get(package)
        return JSONResponse(found, status_code=201 if added else 200)

    async def _get(self, request: Request) -> Response:
        if (failed := self._scripted()) is not None:
            return failed
        found = await self.get(request.path_params["package_id"])
        if found is None:
            return JSONResponse({"error": "no such package"}, status_code=404)
        return JSONResponse(found)

    async def _withdraw(self, request: Request) -> Response:
        if (failed := self._scripted()) is not None:
            return failed
        await self.store.execute(
            "UPDATE fake_catalog_packages SET status = 'withdrawn' WHERE package_id = ?",
            (request.path_params["package_id"],),
        )
        return Response(status_code=204)

    # -- state --------------------------------------------------------------------------
    async def get(self, package: str) -> dict[str, Any] | None:
        rows = await self.store.fetch(
            "SELECT package_id, tenant, draft_id, digest, status, built_events"
            " FROM fake_catalog_packages WHERE package_id = ?",
            (package,),
        )
        if not rows:
            return None
        p, tenant, draft, digest, status, events = rows[0]
        return {
            "packageId": p,
            "tenant": tenant,
            "draftId": draft,
            "digest": digest,
            "status": status,
            "builtEvents": events,
        }

    async def all(self) -> list[dict[str, Any]]:
        rows = await self.store.fetch("SELECT package_id FROM fake_catalog_packages")
        found = [await self.get(r[0]) for r in rows]
        return [f for f in found if f is not None]

    async def applied(self) -> list[tuple[int, str, str | None, str]]:
        """(order, message id, aggregate key, package) of every built event applied."""
        rows = await self.store.fetch(
            "SELECT n, msg_id, aggregate, package_id FROM fake_catalog_applied ORDER BY n"
        )
        return [(int(n), m, a, p) for n, m, a, p in rows]

    # -- bus ----------------------------------------------------------------------------
    async def _on_built(self, message: mitigate.Message, tx: Any) -> None:
        body = json.loads(message.payload)
        self._applied += 1
        await tx.execute(
            "INSERT INTO fake_catalog_applied (n, msg_id, aggregate, package_id)"
            " VALUES (?, ?, ?, ?)",
            (self._applied, message.id, message.key, body["packageId"]),
        )
        await tx.execute(
            "UPDATE fake_catalog_packages SET built_events = built_events + 1,"
            " status = CASE WHEN status = 'pending' THEN 'live' ELSE status END"
            " WHERE package_id = ?",
            (body["packageId"],),
        )

    async def handle_built(self, message: mitigate.Message) -> None:
        if self.dedupe:
            await self.inbox.handler(self._on_built)(message)
            return
        async with self.store.transaction() as tx:
            await self._on_built(message, tx)

    def consumer(
        self, bus: Any, *, subject: str = BUILT_SUBJECT, **kwargs: Any
    ) -> mitigate.Consumer:
        """The catalog's durable consumer of built events on ``bus``: a delivery without an
        outcome comes back after 30 s, for as long as half an hour (at-least-once, retried
        to depletion; content.fm.1.7), then goes to the DLQ."""
        spec = mitigate.ConsumerSpec("catalog", subject, ack_wait=30.0)
        kwargs.setdefault("retry", mitigate.Retry(60, base=1.0, cap=30.0))
        kwargs.setdefault("dead_letters", mitigate.DeadLetters(self.store))
        return mitigate.Consumer(bus, spec, self.handle_built, **kwargs)
