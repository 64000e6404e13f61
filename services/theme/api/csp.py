"""Content-Security-Policy: the header every response carries, and the endpoint browsers
send violation reports to (no tenant: a browser sends none)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import mitigate

from ._service import theme_of

__all__ = ["CSP", "REPORT_PATH", "CspHeader", "CspViolation", "router"]

log = logging.getLogger("services.theme.csp")
REPORT_PATH = "/csp-reports"
CSP = f"default-src 'self'; script-src 'self'; object-src 'none'; report-uri {REPORT_PATH}"
SWITCH = "theme.switch.csp"

router = APIRouter(tags=["security"])


@dataclass(frozen=True, slots=True, kw_only=True)
class CspViolation(mitigate.Event):
    name: ClassVar[str] = "theme.csp_violation"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    directive: str = ""
    blocked: str = ""
    document: str = ""


@router.post(REPORT_PATH, status_code=204, response_class=Response)
async def csp_report(request: Request) -> Response:
    """A browser's CSP violation report (``application/csp-report``): logged and counted."""
    raw = await request.body()
    try:
        body: Any = json.loads(raw[:65536] or b"{}")
    except ValueError:
        body = {}
    report = body.get("csp-report", {}) if isinstance(body, dict) else {}
    report = report if isinstance(report, dict) else {}
    runtime = theme_of(request).runtime
    event = CspViolation(
        target="csp",
        at=runtime.clock.now(),
        directive=str(report.get("violated-directive", ""))[:200],
        blocked=str(report.get("blocked-uri", ""))[:200],
        document=str(report.get("document-uri", ""))[:200],
    )
    runtime.emit(event)
    log.warning("CSP violation %s blocked %s on %s", event.directive, event.blocked, event.document)
    return Response(status_code=204)


class CspHeader:
    """Adds the CSP header to every HTTP response (unless the switch is off)."""

    def __init__(self, app: ASGIApp, switches: Any) -> None:
        self.app = app
        self.switches = switches

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.switches.enabled(SWITCH):
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_header)
