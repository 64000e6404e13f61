"""authoring.fallback.2: every collab process is down; editors fall back to single-user mode.

Two editors work in collab; a snapshot is taken at 60 s; at 75 s both collab processes die.
An editor opening the draft gets the last snapshot (at most 60 s old) plus the events
logged after it, in single-user mode with a banner: the first holds the draft, the other
is read-only. Saves are plain requests naming the version they were made on: a stale one
is refused (412), a read-only editor's is refused (423). When collab returns, the
collab clients rejoin and the single-user saves are in the merged document, with the
edits the clients typed during the outage."""

from __future__ import annotations

from mitigate.chaos import Run, experiment
from services.authoring.harness import alerts, open_world


@experiment("authoring.fallback.2")
async def collab_down_single_user(run: Run) -> None:
    world = await open_world(run)
    draft = await world.new_draft()
    cat, dan = world.editor("cat", draft), world.editor("dan", draft)
    for client in (cat, dan):
        await client.join()
    for n in range(7):
        await cat.edit(f"cat-{n}", f"cat {n}")
        await dan.edit(f"dan-{n}", f"dan {n}")
        await run.clock.asleep(10)
    await run.clock.asleep(5)
    acked = cat.acked | dan.acked
    await run.steady("collab editing works", len(acked) == 14)

    for server in world.service.collab:
        server.kill()
    cat.edit_local("cat-offline", "typed during the outage")
    url = f"/v1/drafts/{draft}/editor"
    ann = (await world.http.post(url, json={"user": "ann"})).json()
    bob = (await world.http.post(url, json={"user": "bob"})).json()
    run.expect("single-user mode", ann.get("mode") == "single-user", str(ann))
    age = ann.get("snapshotAge")
    run.expect("the snapshot is at most 60 s old", age is not None and age <= 60, str(age))
    run.expect("a banner explains it", "single-user mode" in str(ann.get("banner")))
    run.expect("every acknowledged edit shown", acked <= set(ann.get("blocks") or {}))
    run.expect("ann holds the draft", ann.get("readOnly") is False and ann.get("holder") == "ann")
    run.expect("bob reads only", bob.get("readOnly") is True, str(bob.get("readOnly")))
    run.expect("alert raised", bool(alerts(run, "authoring.rule.collab-unavailable")))

    version = int(ann.get("version") or 0)
    save = f"/v1/drafts/{draft}/document/blocks"
    first = await world.http.put(
        f"{save}/cat-0", json={"user": "ann", "text": "cat 0, edited by ann", "version": version}
    )
    run.expect("ann's save is accepted", first.status_code == 200, first.text)
    stale = await world.http.put(  # ann's other tab, still on the old version
        f"{save}/cat-0", json={"user": "ann", "text": "an older text", "version": version}
    )
    run.expect("a stale save is refused", stale.status_code == 412, stale.text)
    added = await world.http.put(
        f"{save}/ann-1",
        json={"user": "ann", "text": "written alone", "version": version + 1},
    )
    run.expect("saves go on from the new version", added.status_code == 200, added.text)
    theirs = await world.http.put(
        f"{save}/bob-1", json={"user": "bob", "text": "bob's", "version": version + 2}
    )
    run.expect("the read-only editor cannot save", theirs.status_code == 423, theirs.text)

    for server in world.service.collab:
        server.revive()
    settled = [await cat.settled(), await dan.settled()]
    run.expect("collab is back", all(settled), str(settled))
    document = (await world.document(draft))["blocks"]
    run.expect("ann's saves merged", document.get("cat-0") == "cat 0, edited by ann")
    run.expect("and her new block", document.get("ann-1") == "written alone")
    run.expect("the outage's local edit merged", document.get("cat-offline") is not None)
    run.expect("no acknowledged edit lost", acked <= set(document))
    run.expect("every client has it all", cat.blocks() == dan.blocks() == document)
