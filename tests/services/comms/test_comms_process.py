"""The comms service as a real process: serve, dispatch an SMS, a push and emails over HTTP
(the fake providers on their own server and the fake MTA, reached over sockets), open a
video session, apply a receipt callback once, hold a missing template, stop cleanly on
SIGTERM; on the embedded default and on PostgreSQL + NATS + Redis."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import require_nats, require_postgres, require_redis

from .served import OPS_TOKEN, serve_comms

TENANT = {"x-tenant-id": "clinic-a"}


def _until_settled(http: httpx.Client, dispatch_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        view: dict[str, Any] = http.get(f"/v1/dispatches/{dispatch_id}").json()
        if view["state"] != "queued" or time.monotonic() > deadline:
            return view
        time.sleep(0.2)


def _dispatch_and_track(url: str) -> None:
    with httpx.Client(base_url=url, headers=TENANT, timeout=30) as http:
        sms = http.post(
            "/v1/dispatches",
            json={
                "category": "reminders",
                "channel": "sms",
                "template": "appointment-reminder",
                "to": "+15550100",
                "vars": {"when": "Monday 10:00"},
            },
        )
        assert sms.status_code == 202, sms.text
        assert _until_settled(http, sms.json()["id"])["state"] == "sent"
        assert _until_settled(http, sms.json()["id"])["provider"] == "primary"

        push = http.post(
            "/v1/dispatches",
            json={"category": "messages", "channel": "push", "template": "new-message", "to": "t"},
        )
        assert push.status_code == 202, push.text
        assert _until_settled(http, push.json()["id"])["state"] == "sent"

        emails = {}
        for to in ("patient@clinic-a.test", "nobody@clinic-a.test"):
            emails[to] = http.post(
                "/v1/dispatches",
                json={
                    "category": "reminders",
                    "channel": "email",
                    "template": "appointment-reminder",
                    "to": to,
                    "vars": {"when": "Monday 10:00"},
                },
            ).json()["id"]
        # Real SMTP to the fake MTA: delivered, or refused (550) and recorded as a bounce.
        assert _until_settled(http, emails["patient@clinic-a.test"])["state"] == "sent"
        assert _until_settled(http, emails["nobody@clinic-a.test"])["state"] == "bounced"

        session = http.post("/v1/sessions", json={"patient": "p-1"})
        assert session.status_code == 201 and session.json()["pool"] == "a", session.text
        receipt = {"receiptId": "r-1", "reference": sms.json()["id"], "status": "delivered"}
        first = http.post("/v1/receipts/primary", json=receipt, headers={"x-tenant-id": ""})
        again = http.post("/v1/receipts/primary", json=receipt, headers={"x-tenant-id": ""})
        assert first.json()["applied"] is True and again.json()["applied"] is False
        assert http.get(f"/v1/dispatches/{sms.json()['id']}").json()["state"] == "delivered"

        for participant in ("p-1", "p-2"):
            read = http.post("/v1/threads/t-1/reads", json={"participant": participant})
            assert read.status_code == 200, read.text  # the host clock agrees with the store's
        listed = http.get("/v1/threads/t-1/reads").json()
        assert [r["participant"] for r in listed] == ["p-1", "p-2"]

        missing = http.post(
            "/v1/dispatches",
            json={"category": "x", "channel": "sms", "template": "not-shipped", "to": "+1555"},
        )
        assert _until_settled(http, missing.json()["id"])["state"] == "held"
        notices = http.get("/ops/notices", headers={"x-ops-token": OPS_TOKEN}).json()
        assert [n["code"] for n in notices] == ["COMMS.TEMPLATE.NOT_FOUND"]

        other = http.get(f"/v1/dispatches/{sms.json()['id']}", headers={"x-tenant-id": "clinic-b"})
        assert other.status_code == 404  # another tenant's dispatch does not exist for it
        assert http.get("/readyz").status_code == 200
        metrics = http.get("/metrics")
        assert metrics.status_code == 200 and "text/plain" in metrics.headers["content-type"]


def test_serve_dispatch_stop_embedded(tmp_path: Path) -> None:
    with serve_comms(tmp_path) as served:
        _dispatch_and_track(served.url)
        assert served.stop() == 0
    assert "stopped cleanly" in served.log.read_text()


@pytest.mark.integration
def test_serve_dispatch_stop_on_production_backends(tmp_path: Path) -> None:
    require_postgres()
    require_nats()
    require_redis()
    with serve_comms(tmp_path, backend="postgres+nats+redis") as served:
        ready = httpx.get(f"{served.url}/readyz", timeout=10).json()
        assert set(ready["checks"]) >= {"store", "bus", "cache"}, ready
        _dispatch_and_track(served.url)
        assert served.stop() == 0
    assert "stopped cleanly" in served.log.read_text()
