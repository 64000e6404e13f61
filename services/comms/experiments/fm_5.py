"""comms.fm.5: the primary database is cut for 60 s under mixed load."""

from __future__ import annotations

from collections import Counter
from typing import Any

from services.comms.failover import CUT_POINT, MARK_POINT
from services.comms.harness import alerts, open_world

from mitigate.chaos import Drop, Outage, Run, experiment

RULE = "comms.rule.db-connection-errors"
A = {"x-tenant-id": "clinic-a"}
OUTAGE = 60.0


def reminder(n: int) -> dict[str, Any]:
    return {
        "category": "reminders",
        "channel": "sms",
        "template": "appointment-reminder",
        "to": f"+1555777{n:04d}",
        "vars": {"when": "Monday 10:00"},
    }


@experiment("comms.fm.5", failure_modes=["comms.fm.5"])
async def database_unavailable(run: Run) -> None:
    """Mixed load every 2 s (a new dispatch, a dispatch read, the dispatch list, a thread
    write) while the primary is cut for 60 s: reads come from the replica, new dispatches
    are accepted into the preflight store, the thread write gets 503 + Retry-After, and
    the connection-error rule alerts. When the primary is back the preflight rows drain
    into it (the first drain stops between insert and mark, as a crash would, and runs
    again): every accepted dispatch is there once and is sent once."""
    world = await open_world(run)
    sms = world.fakes.sms_primary
    before = [(await world.dispatch(**reminder(n)))["id"] for n in range(3)]
    await world.settle(before)
    await run.steady("dispatches send", set((await world.states(before)).values()) == {"sent"})

    accepted: list[str] = []
    outcomes: Counter[str] = Counter()
    async with run.fault(Drop(MARK_POINT, times=1)):
        async with run.fault(Outage(CUT_POINT, duration=OUTAGE), duration=OUTAGE):
            for n in range(int(OUTAGE // 2) - 1):
                made = await world.http.post("/v1/dispatches", json=reminder(100 + n), headers=A)
                if made.status_code == 202 and made.json()["state"] == "preflight":
                    accepted.append(made.json()["id"])
                    outcomes["write accepted into preflight"] += 1
                one = await world.http.get(f"/v1/dispatches/{before[n % 3]}", headers=A)
                if one.status_code == 200 and one.headers.get("x-served-by") == "replica":
                    outcomes["read from the replica"] += 1
                listed = await world.http.get("/v1/dispatches", headers=A)
                if listed.status_code == 200 and listed.headers.get("x-served-by") == "replica":
                    outcomes["list from the replica"] += 1
                other = await world.http.post("/v1/threads", json={"patient": "p-1"}, headers=A)
                if other.status_code == 503 and other.headers.get("retry-after"):
                    outcomes["other write 503 + Retry-After"] += 1
                await run.wait(2)
            fired = alerts(run, RULE)
            run.expect("the connection-error rule alerted", bool(fired), str(fired))
            first = accepted[0] if accepted else "none-accepted"
            mine = await world.http.get(f"/v1/dispatches/{first}", headers=A)
            run.expect(
                "an accepted write is visible, waiting",
                mine.status_code == 200 and mine.json()["state"] == "preflight",
                mine.text,
            )
        rounds = int(OUTAGE // 2) - 1
        run.expect(
            "every round: write accepted, reads from the replica, other write 503",
            outcomes
            == Counter(
                {
                    k: rounds
                    for k in (
                        "write accepted into preflight",
                        "read from the replica",
                        "list from the replica",
                        "other write 503 + Retry-After",
                    )
                }
            ),
            str(outcomes),
        )
        await run.wait(10)  # the primary is back: the drain runs (and is interrupted once)
    run.mitigated("replica reads; writes kept in the preflight store, drained once")
    await world.settle(accepted, limit=300)
    listed = (await world.http.get("/v1/dispatches", headers=A)).json()
    ids = Counter(d["id"] for d in listed)
    run.expect(
        "every accepted write is in the primary, none twice",
        all(ids[i] == 1 for i in accepted)
        and len(ids) == len(listed) == len(before) + len(accepted),
        f"{len(listed)} listed for {len(before) + len(accepted)}",
    )
    states = Counter((await world.states(accepted)).values())
    run.expect("and sent", states == Counter({"sent": len(accepted)}), str(states))
    run.expect("each once", all(sms.delivered(i) == 1 for i in accepted))
