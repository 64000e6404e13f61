"""comms.fm.12: a user of tenant B added to a thread of tenant A is refused, by the
application and, with the application check dropped, by the database."""

from __future__ import annotations

from services.comms.harness import alerts, open_world
from services.comms.participants import APP_CHECK_POINT

from mitigate.chaos import Drop, Run, experiment

RULE = "comms.rule.cross-tenant-participant"
A = {"x-tenant-id": "clinic-a"}
B = {"x-tenant-id": "clinic-b"}


@experiment("comms.fm.12", failure_modes=["comms.fm.12"])
async def cross_tenant_participant(run: Run) -> None:
    """Clinic A's thread takes its own clinician. Adding clinic B's clinician is refused
    with 403 by the application check and alerted; with that check dropped by a fault,
    the database guard (RLS WITH CHECK on PostgreSQL, its trigger on the embedded store)
    refuses the row, alerted too. The thread's membership is unchanged either way."""
    world = await open_world(run, workers=False)
    http = world.http
    for user, headers in (("dr-ada", A), ("dr-bob", B)):
        made = await http.post("/v1/users", json={"user": user}, headers=headers)
        made.raise_for_status()
    thread = (await http.post("/v1/threads", json={"patient": "pat-1"}, headers=A)).json()["id"]
    path = f"/v1/threads/{thread}/participants"
    own = await http.post(path, json={"user": "dr-ada"}, headers=A)
    await run.steady("a user of the thread's tenant is added", own.status_code == 201)

    refused = await http.post(path, json={"user": "dr-bob"}, headers=A)
    body = refused.json()
    run.expect(
        "the cross-tenant user is refused with 403", refused.status_code == 403, refused.text
    )
    run.expect(
        "refused by the application check",
        body.get("refusedBy") == "application",
        refused.text,
    )
    fired = alerts(run, RULE)
    run.expect("the refusal is alerted", len(fired) >= 1, str(fired))
    if fired:
        run.detected(RULE)

    async with run.fault(Drop(APP_CHECK_POINT)):  # the bug: the tenant check is bypassed
        bypassed = await http.post(path, json={"user": "dr-bob"}, headers=A)
    run.expect(
        "with the application check bypassed, the database refuses the row (403)",
        bypassed.status_code == 403 and bypassed.json().get("refusedBy") == "database",
        bypassed.text,
    )
    layers = [getattr(e, "layer", "") for e in run.recorder.named("comms.participant_rejected")]
    run.expect("both refusals raised the event", layers == ["application", "database"], str(layers))
    run.mitigated("refused by the application, then by the database guard")
    members = (await http.get(path, headers=A)).json()
    run.expect("thread membership unchanged", members == ["dr-ada"], str(members))
    seen_by_b = await http.post(path, json={"user": "dr-bob"}, headers=B)
    run.expect("tenant B cannot even find the thread", seen_by_b.status_code == 404, seen_by_b.text)
