"""authoring.fm.1.4: a block kind an older player does not know.

A draft with an ``interactive-coding`` block (a kind added after registry version 1) is
published through the API; the bundle the content service holds is loaded by a player
built with registry version 1: that block is the "unsupported block" stub and is counted,
every other block renders normally. The stored S1 fixture bundle (registry version 1)
loads in the latest player. A registry change that removes or renames a kind fails the
registry check."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from mitigate.chaos import Run, experiment
from services.authoring.domain.blocks import (
    REGISTRY,
    REGISTRY_V1,
    RegistryChangeError,
    check_additive,
)
from services.authoring.harness import alerts, bundle_of, open_world
from services.authoring.player import Player

S1 = Path(__file__).resolve().parents[1] / "fixtures" / "s1_bundle.json"


def _refused(old: tuple[str, ...], new: tuple[str, ...]) -> bool:
    try:
        check_additive(old, new)
    except RegistryChangeError:
        return True
    return False


@experiment("authoring.fm.1.4", failure_modes=["authoring.fm.1.4"])
async def unknown_kind_in_older_player(run: Run) -> None:
    world = await open_world(run)
    content = world.service.fakes.content
    assert content is not None
    tolerant = run.switches.enabled("authoring.switch.tolerant-reader")
    observers = [*run.observers, run.catalog.detector]

    def player(known: tuple[str, ...]) -> Player:
        return Player(known, tolerant=tolerant, clock=run.clock, observers=observers)

    draft = await world.new_draft()
    for spec in ({"kind": "text"}, {"kind": "interactive-coding"}, {"kind": "quiz"}):
        added = await world.http.post(f"/v1/drafts/{draft}/blocks", json=spec)
        run.require(f"{spec['kind']} block added", added.status_code == 201, added.text)
    await world.http.post(f"/v1/drafts/{draft}/approve")
    published = await world.publish(draft)
    await run.steady("the draft publishes", await world.settle(draft) == "published")
    bundle_id = bundle_of(published.json()["publishId"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=content.app), base_url="http://content.fake"
    ) as http:
        bundle = (await http.get(f"/v1/bundles/{bundle_id}")).json()

    old = player(REGISTRY_V1)
    try:
        shown = old.render(bundle)
    except ValueError as exc:
        run.expect("the older player renders the page", False, str(exc))
        return
    kinds = [b["kind"] for b in shown]
    run.expect(
        "the unknown block is the stub", kinds == ["text", "unsupported", "quiz"], str(kinds)
    )
    run.expect("the unsupported-kind counter counts it", old.unsupported == 1)
    run.expect("alert raised", bool(alerts(run, "authoring.rule.unsupported-block")))

    s1 = json.loads(S1.read_text())
    latest = player(REGISTRY)
    rendered = latest.render(s1)
    run.expect(
        "the S1 bundle loads in the latest player",
        [b["kind"] for b in rendered] == [b["kind"] for b in s1["blocks"]]
        and latest.unsupported == 0,
    )
    run.expect("additions pass the registry check", not _refused(REGISTRY_V1, REGISTRY))
    removed = tuple(k for k in REGISTRY if k != "video")
    renamed = tuple("clip" if k == "video" else k for k in REGISTRY)
    run.expect("a removal fails the registry check", _refused(REGISTRY_V1, removed))
    run.expect("a rename fails the registry check", _refused(REGISTRY_V1, renamed))
