"""authoring.fm.1.2: a draft's server document is corrupted mid-edit.

Two editors type every 10 s; the collab process snapshots the document at 60 s and
120 s. At 150 s an update that does not decode reaches the server document (a frame
damaged on the wire: it carried one of ann's edits). The server reports the corruption
for that draft only, drops the room and sends its clients the reconnect hint; the room is
rebuilt from the 120 s snapshot plus the block events logged after it, the clients
rejoin and send what the server lacks, and editing continues. The rebuilt document holds
every acknowledged edit, and ann's damaged one too. Another draft on the same process is
not touched. The repair tool then promotes a clean rebuild, and refuses to promote
once an event in the log no longer decodes (its staging run fails)."""

from __future__ import annotations

from mitigate.chaos import Run, experiment
from services.authoring.harness import alerts, events_since, open_world


@experiment("authoring.fm.1.2", failure_modes=["authoring.fm.1.2"])
async def document_corrupted_mid_edit(run: Run) -> None:
    world = await open_world(run)
    draft, other = await world.new_draft(), await world.new_draft()
    ann, bob, dan = (
        world.editor("ann", draft),
        world.editor("bob", draft),
        world.editor("dan", other),
    )
    for client in (ann, bob, dan):
        await client.join()
    start = run.clock.now()
    n = 0
    while run.clock.now() - start < 145:
        await run.clock.asleep(5)
        await ann.edit(f"ann-{n}", f"ann paragraph {n}")
        await bob.edit(f"bob-{n}", f"bob paragraph {n}")
        await dan.edit(f"dan-{n}", "elsewhere")
        await run.clock.asleep(5)
        n += 1
    for client in (ann, bob):
        await client.settled(limit=5)
    acked = ann.acked | bob.acked
    await run.steady("every edit acknowledged", len(acked) == 2 * n)
    snaps = await world.service.documents.log.snapshots(draft)  # type: ignore[union-attr]
    await run.steady(
        "snapshots at 60 s and 120 s", [round(at - start) for _, at in snaps] == [60, 120]
    )

    t0 = run.clock.now()
    await ann.edit("ann-damaged", "ann's edit on a damaged frame", corrupt=True)
    settled = [await ann.settled(), await bob.settled()]
    corrupted = events_since(run, "collab.corrupted", "collab.room", t0)
    run.expect("corruption reported", len(corrupted) == 1, str(len(corrupted)))
    run.expect("for that draft only", all(e.draft == draft for e in corrupted))
    run.expect("alert raised", bool(alerts(run, "authoring.rule.collab-corrupted")))
    restored = [
        e for e in events_since(run, "collab.restored", "collab.room", t0) if e.draft == draft
    ]
    run.expect("the room was rebuilt", len(restored) == 1, str(len(restored)))
    if restored:
        run.expect("from the 120 s snapshot", restored[0].snapshot == snaps[-1][0])
        run.expect("plus the events after it", restored[0].replayed == 6, str(restored[0].replayed))
    shown = [s for at, s in ann.statuses if at >= t0]
    run.expect(
        'brief "reconnecting", then editing', shown == ["reconnecting", "connected"], str(shown)
    )
    run.expect("both rejoined", all(settled), str(settled))
    run.expect("the other draft untouched", [s for _, s in dan.statuses] == ["connected"])

    await bob.edit("bob-after", "after the repair")
    for client in (ann, bob):
        await client.settled(limit=5)
    document = (await world.document(draft))["blocks"]
    reference = {k: ann.edits.get(k) or bob.edits.get(k) for k in acked}
    run.expect(
        "every acknowledged edit kept", all(document.get(k) == v for k, v in reference.items())
    )
    run.expect("the damaged edit merged on rejoin", "ann-damaged" in document)
    run.expect("server and clients identical", ann.blocks() == bob.blocks() == document)

    # The repair tool: a clean rebuild is promoted; a log with a bad event is not.
    url = f"/v1/drafts/{draft}/document/repair"
    clean = await world.http.post(url)
    run.expect("a clean staging run is promoted", clean.status_code == 200, clean.text)
    for client in (ann, bob):
        await client.settled(limit=5)
    await bob.edit("bob-last", "logged after the promoted snapshot")
    await bob.settled(limit=5)
    await world.service.runtime.store.execute(  # a log row damaged in the store
        "UPDATE authoring_doc_events SET update_b64 = 'not-an-update' WHERE draft_id = ?"
        " AND seq = (SELECT MAX(seq) FROM authoring_doc_events WHERE draft_id = ?)",
        (draft, draft),
    )
    before = await world.service.documents.log.snapshots(draft)  # type: ignore[union-attr]
    bad = await world.http.post(url)
    after = await world.service.documents.log.snapshots(draft)  # type: ignore[union-attr]
    run.expect("a failed staging run is not promoted", bad.status_code == 409, bad.text)
    run.expect("nothing promoted", before == after)
