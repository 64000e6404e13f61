"""theme.principle.2: no silent failures. One failure of each kind the theme service
answers through its API (a stale save, a publish rejected by validation, a locale still
in use, a deactivated layout preset, an upload failure, the database down, a bundle that
fails its digest): each leaves a structured log record, a metric increment and its event;
a failure without all three fails the run."""

from __future__ import annotations

import logging
from typing import Any

from services.theme.audit import FAILURES
from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Failure, Latency, Run, experiment

RULE = "theme.rule.edit-conflicts"
OPS = {"x-ops-token": "local-operator"}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@experiment("theme.principle.2")
async def every_failure_observable(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    registry = world.theme.runtime.registry
    records = Records()
    logger = logging.getLogger("services.theme")
    logger.addHandler(records)
    run.rollback(lambda: logger.removeHandler(records))

    await http.put("/v1/themes/brand", json=sample_document())
    ok = await http.post("/v1/themes/brand/publish")
    await run.steady("the theme publishes", ok.status_code == 200)
    layout = {"home": {"presetKey": "grid"}}
    bad = sample_document(colors={"primary": "not-a-colour"})

    async def stale() -> Any:
        return await http.put(
            "/v1/themes/brand", json=sample_document(), headers={"if-match": '"9"'}
        )

    async def rejected() -> Any:
        await http.put("/v1/themes/bad", json=bad)
        return await http.post("/v1/themes/bad/publish")

    async def in_use() -> Any:
        return await http.delete("/v1/themes/brand/locales/fr")

    async def preset() -> Any:
        await http.put("/ops/layout-presets/grid", json={"active": False}, headers=OPS)
        await http.put("/v1/themes/lay", json=sample_document(layoutSelections=layout))
        return await http.post("/v1/themes/lay/publish")

    async def upload() -> Any:
        await http.put("/v1/themes/up", json=sample_document(name="Up"))
        async with run.fault(Failure("bundle.upload", error=ConnectionError("store down"))):
            return await http.post("/v1/themes/up/publish")

    async def database() -> Any:
        async with run.fault(Latency("theme.db", delay=3600.0)):
            return await http.put("/v1/themes/db", json=sample_document(name="Db"))

    async def integrity() -> Any:
        key = (await http.get("/v1/themes/brand/publication")).json()["objectKey"]
        await world.theme.runtime.objects.put(key, b"tampered")
        return await http.get("/v1/themes/brand/read")

    cases = [
        ("stale save", "theme.precondition_failed", stale),
        ("publish rejected", "theme.publish_rejected", rejected),
        ("locale in use", "theme.locale_in_use", in_use),
        ("preset inactive", "theme.layout_preset_inactive", preset),
        ("upload failed", "theme.bundle_upload_failed", upload),
        ("database down", "theme.db_unavailable", database),
        ("bundle integrity", "theme.bundle.integrity.violation", integrity),
    ]
    silent: list[str] = []
    for what, event, call in cases:
        mark = len(records.records)
        seen = len(run.recorder.named(event))
        counted = registry.get_sample_value(f"{FAILURES}", {"event": event}) or 0.0
        answer = await call()
        logged = [r for r in records.records[mark:] if getattr(r, "event", None) == event]
        emitted = len(run.recorder.named(event)) > seen
        metric = (registry.get_sample_value(f"{FAILURES}", {"event": event}) or 0.0) > counted
        failed = answer.status_code >= 400 or answer.headers.get("x-theme-source") == "origin"
        if not (failed and logged and emitted and metric):
            silent.append(f"{what}: log {bool(logged)}, metric {metric}, event {emitted}")
        await run.wait(20.0)  # the database's breaker closes again between cases
    run.expect(
        "every failure left a log record, a metric increment and its event",
        not silent,
        "; ".join(silent),
    )
    fired = alerts(run, RULE)
    if fired:
        run.detected(RULE)
    run.expect(f"{RULE} raised alert.raised", bool(fired))
    run.mitigated("failure audit: log + metric + event on every failure path")
