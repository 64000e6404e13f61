"""comms.fm.10: forged join tokens; after a key leak, an emergency rotation."""

from __future__ import annotations

from services.comms.harness import alerts, open_world

import mitigate
from mitigate.chaos import Run, experiment

RULE = "comms.rule.join-token-failures"
HEADERS = {"x-tenant-id": "clinic-a"}


@experiment("comms.fm.10", failure_modes=["comms.fm.10"])
async def join_token_forged(run: Run) -> None:
    """(a) 20 tokens signed with a random key in a minute: all refused, the spike rule
    fires. (b) The real key leaks: a token the attacker signs with it joins a live
    session. The emergency rotation gives a new kid, revokes the old one at once, ends
    every session joined under it (its room closed) and lists those joins; the leaked key's
    tokens are refused from then on; a patient starting again gets a working token."""
    world = await open_world(run)
    tokens = world.comms.tokens
    assert tokens is not None
    video = world.fakes.video

    async def start(patient: str) -> dict[str, str]:
        answer = await world.http.post("/v1/sessions", json={"patient": patient}, headers=HEADERS)
        return dict(answer.json())

    async def join(session: str, token: str) -> int:
        answer = await world.http.post(
            f"/v1/sessions/{session}/join", json={"token": token}, headers=HEADERS
        )
        return answer.status_code

    one = await start("p-1")
    await run.steady("a patient joins with the token", await join(one["id"], one["token"]) == 200)

    label = "forged join tokens"
    run.timeline.window(run.clock.now(), None, label)
    stranger = mitigate.KeyRing.generate(clock=run.clock)
    refused = 0
    for _ in range(20):
        refused += await join(one["id"], tokens.issue(one["id"], "intruder", ring=stranger)) == 401
        await run.wait(2)
    run.expect("random-key tokens refused", refused == 20, str(refused))
    run.expect("the verify-failure spike alerted", bool(alerts(run, RULE)))
    if alerts(run, RULE):
        run.detected(RULE)

    two = await start("p-2")
    await join(two["id"], two["token"])
    leaked = mitigate.KeyRing.from_json(tokens.ring.to_json(), clock=run.clock)
    old_kid = tokens.ring.active_kid
    intruded = await join(two["id"], tokens.issue(two["id"], "intruder", ring=leaked))
    run.expect("before the rotation a leaked-key token verifies", intruded == 200)

    rotation = (await world.ops.post("/ops/keys/emergency-rotation")).json()
    run.expect("a new kid signs", rotation.get("activeKid") not in (None, old_kid), str(rotation))
    ended = set(rotation.get("endedSessions", []))
    run.expect(
        "sessions joined under the old kid ended", ended == {one["id"], two["id"]}, str(ended)
    )
    run.expect(
        "their rooms were closed at the provider",
        {"clinic-a-p-1", "clinic-a-p-2"} <= set(video.closed),
        str(video.closed),
    )
    listed = {(j["session"], j["participant"]) for j in rotation.get("joins", [])}
    run.expect(
        "the forensic list names the intruder's join",
        (two["id"], "intruder") in listed and (one["id"], "p-1") in listed,
        str(listed),
    )
    run.mitigated("emergency rotation; sessions under the leaked kid ended")
    three = await start("p-2")
    late = await join(three["id"], tokens.issue(three["id"], "intruder", ring=leaked))
    run.expect("the leaked key's tokens are refused at once", late == 401, str(late))
    run.expect(
        "the patient starting again gets a working token",
        await join(three["id"], three["token"]) == 200,
    )
    run.timeline.close_window(label, run.clock.now())
