"""authoring.fm.1.7: the collab process serving a draft dies; its clients rejoin without loss.

Three editors join one draft: the router sends all of them to the same collab process
(sticky by draft id). One edits and leaves: its edit lives only in that process and the
event log. The two others each type an edit that is not sent yet, and the process is
killed (SIGKILL, in process: memory gone, sockets cut). The clients show "reconnecting",
the router's probe marks the process down and sends them to the same survivor, which
rebuilds the document from the store (snapshot + event log); they rejoin with their
last-known version and send their diffs. The final document is the same on the server and
both clients and holds every edit of all three."""

from __future__ import annotations

from mitigate.chaos import Run, experiment
from services.authoring.collab.log import blocks_of
from services.authoring.harness import alerts, open_world


@experiment("authoring.fm.1.7", failure_modes=["authoring.fm.1.7"])
async def collab_process_killed(run: Run) -> None:
    world = await open_world(run)
    draft = await world.new_draft()
    ann, bob, cat = (world.editor(u, draft) for u in ("ann", "bob", "cat"))
    for client in (ann, bob, cat):
        await client.join()
    hosts = {ann.server, bob.server, cat.server}
    await run.steady("every client of the draft on one process", len(hosts) == 1)
    await ann.edit("ann-1", "Intro")
    await bob.edit("bob-1", "Quiz")
    await cat.edit("cat-1", "Summary")
    for client in (ann, bob, cat):
        await client.settled(limit=5)
    await run.steady("edits reach every client", ann.blocks() == bob.blocks() == cat.blocks())
    await cat.close()  # cat's edit is now only in the process and the event log

    host = world.server(ann.server)
    ann.edit_local("ann-2", "Intro, revised")  # typed, not yet sent
    bob.edit_local("bob-2", "Quiz answers")
    t0 = run.clock.now()
    host.kill()
    settled = [await ann.settled(), await bob.settled()]
    took = run.clock.now() - t0
    run.expect("both clients back and settled", all(settled), str(settled))
    survivor = {ann.server, bob.server}
    run.expect("to the same survivor", len(survivor) == 1 and host.name not in survivor)
    shown = [s for _, s in ann.statuses]
    run.expect('"reconnecting…" then continues', shown[-2:] == ["reconnecting", "connected"])
    run.expect("rejoined within seconds", took < 10, f"{took:.1f}s")
    router = world.service.router
    run.expect("the router marked it down", router is not None and host.name in router.down)
    run.expect("alert raised", bool(alerts(run, "authoring.rule.collab-process-down")))

    expected = {"ann-1": "Intro", "ann-2": "Intro, revised", "bob-1": "Quiz"}
    expected |= {"bob-2": "Quiz answers", "cat-1": "Summary"}
    server = (await world.document(draft))["blocks"]
    room = world.server(ann.server).rooms.get(draft)
    live = {} if room is None else dict(blocks_of(room.doc))
    run.expect("the server holds every edit", server == expected, str(server))
    run.expect("the survivor's room too", live == expected, str(live))
    run.expect("identical on both clients", ann.blocks() == bob.blocks() == expected)
