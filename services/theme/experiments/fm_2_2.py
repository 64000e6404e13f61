"""theme.fm.2.2: two saves from the same base revision run concurrently: exactly one
commits, the other gets 412 PRECONDITION_FAILED (nothing retried server-side); the stored
state is the winner's, none of the loser's payload; refetch then save succeeds."""

from __future__ import annotations

import asyncio

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Run, experiment

RULE = "theme.rule.edit-conflicts"
CODE = "MELMASTOON.PLATFORM.PRECONDITION_FAILED"


@experiment("theme.fm.2.2", failure_modes=["theme.fm.2.2"])
async def racing_saves(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    created = await http.put("/v1/themes/race", json=sample_document())
    await run.steady("a theme is created", created.status_code == 200)
    base = created.headers["etag"]

    def payload(who: str) -> dict[str, object]:
        return sample_document(
            name=who,
            colors={
                "primary": "#111111",
                "background": "#ffffff",
                "text": "#000000",
                who.lower(): "#222222",
            },
        )

    answers = await asyncio.gather(
        http.put("/v1/themes/race", json=payload("Alice"), headers={"if-match": base}),
        http.put("/v1/themes/race", json=payload("Bob"), headers={"if-match": base}),
    )
    codes = sorted(a.status_code for a in answers)
    run.expect("exactly one save commits, the other gets 412", codes == [200, 412], str(codes))
    winners = [a for a in answers if a.status_code == 200]
    losers = [a for a in answers if a.status_code == 412]
    run.expect(
        "the loser carries the precondition-failed code",
        len(losers) == 1 and losers[0].json().get("code") == CODE,
        str([a.text for a in losers]),
    )
    row = await world.row("race")
    if len(winners) == 1 and row is not None:
        winner = str(winners[0].json()["document"]["name"])
        loser = "Bob" if winner == "Alice" else "Alice"
        run.expect(
            "stored state is the winner's, no part of the loser's",
            row[0] == 2
            and f'"{winner}"' in row[2]
            and f'"{loser.lower()}"' not in row[2]
            and f'"{loser}"' not in row[2],
            str(row),
        )
    else:
        run.expect("stored state is the winner's", False, f"winners {len(winners)}: {row}")
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    if fired:
        run.detected(RULE)

    fresh = await http.get("/v1/themes/race")
    retry = await http.put(
        "/v1/themes/race", json=payload("Bob"), headers={"if-match": fresh.headers["etag"]}
    )
    run.expect("refetch then save succeeds", retry.status_code == 200, retry.text)
