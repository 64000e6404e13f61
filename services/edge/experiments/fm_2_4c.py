"""edge.fm.2.4c: a chat session actor keeps its retention cap and archives the rest.

maxMessagesPerSession + 50 messages: the session keeps at most the cap, the 50 oldest are
archived to the object store (checked by SHA-256) before they are deleted, and the whole
history stays readable. Variants: the archive write fails, and the archive reads back
corrupted: nothing is deleted, the alert fires, and the next append after recovery
archives the backlog; every message is either live or archived.
"""

from __future__ import annotations

from typing import Any

import httpx
from services.edge.harness import alerts, expect_traceable, open_world

from mitigate.chaos import Corrupt, Failure, Run, experiment


async def _send(http: httpx.AsyncClient, session: str, first: int, count: int) -> list[int]:
    lives = []
    for i in range(first, first + count):
        response = await http.post(
            f"/v1/sessions/{session}/messages", json={"text": f"message {i}"}
        )
        lives.append(int(response.json()["live"]))
    return lives


def _texts(history: dict[str, Any]) -> list[str]:
    return [str(m["text"]) for m in history["messages"]]


@experiment("edge.fm.2.4c", failure_modes=["edge.fm.2.4c"])
async def actor_storage(run: Run) -> None:
    cap = int(run.catalog.failure_mode("edge.fm.2.4c").details["maxMessagesPerSession"])
    world = await open_world(run)
    http = world.tenant("acme")
    lives = await _send(http, "s1", 1, cap + 50)
    run.expect(f"the session never keeps more than {cap}", max(lives) <= cap, str(max(lives)))
    history = (await http.get("/v1/sessions/s1")).json()
    run.expect(f"{cap} live messages", history["live"] == cap, str(history["live"]))
    archived = sum(a["last"] - a["first"] + 1 for a in history["archives"])
    run.expect("the 50 oldest are archived", archived == 50, str(history["archives"][:2]))
    run.expect("every archive matches its digest", all(a["intact"] for a in history["archives"]))
    run.expect(
        "every message is live or archived, in order",
        _texts(history) == [f"message {i}" for i in range(1, cap + 51)],
    )
    run.expect("the storage gauge alert fired", bool(alerts(run, "edge.rule.session-storage")))

    await _send(http, "s2", 1, cap)
    for label, fault in (
        ("the archive write fails", Failure("chat.archive", error=OSError)),
        ("the archive reads back corrupted", Corrupt("chat.archive.verify")),
    ):
        before = (await http.get("/v1/sessions/s2")).json()
        async with run.fault(fault):
            await _send(http, "s2", len(_texts(before)) + 1, 5)
        during = (await http.get("/v1/sessions/s2")).json()
        run.expect(
            f"{label}: nothing deleted",
            during["live"] == before["live"] + 5 and len(during["archives"]) == 0,
            f"live {during['live']}, archives {len(during['archives'])}",
        )
    run.expect("the archive-failed alert fired", bool(alerts(run, "edge.rule.archive-failed")))
    await _send(http, "s2", cap + 11, 1)
    healed = (await http.get("/v1/sessions/s2")).json()
    run.expect("after recovery the backlog is archived", healed["live"] == cap, str(healed["live"]))
    run.expect(
        "every message of s2 is live or archived, in order",
        _texts(healed) == [f"message {i}" for i in range(1, cap + 12)],
        str(_texts(healed)[:3]),
    )
    expect_traceable(run, world, required=False)
