"""A fake antivirus scanner with the HTTP shape of a ClamAV REST front (clamav-rest):

- ``POST /scan`` (the file's bytes) -> 200 ``{"status": "OK"}`` or
  ``{"status": "FOUND", "signature": "Eicar-Test-Signature"}``.

It finds the EICAR test string only. ``seconds_per_scan`` is its speed (on the clock it
is given): the fault slows it (``slow(10)``: a tenth of its speed)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["EICAR", "FakeScanner"]

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class FakeScanner:
    def __init__(self, clock: Any, *, seconds_per_scan: float = 0.1) -> None:
        self.clock = clock
        self.normal = seconds_per_scan
        self.seconds_per_scan = seconds_per_scan
        self.scanned = 0
        self.app = Starlette(routes=[Route("/scan", self._scan, methods=["POST"])])

    def slow(self, factor: float) -> None:
        self.seconds_per_scan = self.normal * factor

    def restore(self) -> None:
        self.seconds_per_scan = self.normal

    async def _scan(self, request: Request) -> Response:
        body = await request.body()
        await self.clock.asleep(self.seconds_per_scan)
        self.scanned += 1
        if EICAR in body:
            return JSONResponse({"status": "FOUND", "signature": "Eicar-Test-Signature"})
        return JSONResponse({"status": "OK"})
