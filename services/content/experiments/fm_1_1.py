"""content.fm.1.1: a package build fails and the publish saga rolls back.

(a) ``objects.put`` is rate-limited twice, then answers: retried, the publish completes;
(b) the manifest is invalid, (c) an asset is missing: permanent, no retry, compensated;
(d) ``kms.sign`` fails on every attempt: each signing call gives up after 3 retries, and
the saga compensates. Compensation: no package object left, the draft back to
``approved`` with its content byte-identical, an author alert naming the runbook.
"""

from __future__ import annotations

import json

from services.content.harness import open_world
from services.content.testbed import expect_detection

from mitigate.chaos import Failure, Run, experiment

RUNBOOK = "runbooks/content/build-failures.md"


class RateLimitedError(ConnectionError):
    """The object store's 503 SlowDown: transient."""


@experiment("content.fm.1.1", failure_modes=["content.fm.1.1"])
async def build_failures_roll_back(run: Run) -> None:
    world = await open_world(run)
    world.asset("index.html", b"<h1>lesson</h1>")
    world.asset("intro.mp4", b"\x00video" * 1000)
    good = world.manifest(["index.html", "intro.mp4"])
    await world.draft("steady", good)
    await world.publish("steady")
    steady = await world.settle("steady")
    await run.steady("a clean publish completes", steady["state"] == "published")

    # (a) rate-limited twice on objects.put, then OK: retried, published.
    await world.draft("a", good)
    before = len(run.recorder.named("retry.scheduled", "objects.put"))
    async with run.fault(Failure("objects.put", times=2, error=RateLimitedError("SlowDown"))):
        await world.publish("a")
        a = await world.settle("a")
    retries = run.recorder.named("retry.scheduled", "objects.put")[before:]
    run.expect("(a) published after the rate limit", a["state"] == "published", str(a))
    run.expect("(a) two objects.put retries", len(retries) == 2, f"{len(retries)} retries")

    # (a') the asset source fails twice (network): the fetch is retried, published.
    await world.draft("a2", good)
    fetch_retries = len(run.recorder.named("retry.scheduled", "asset.fetch"))
    async with run.fault(Failure("asset.fetch", times=2, error=ConnectionError("reset"))):
        await world.publish("a2")
        a2 = await world.settle("a2")
    run.expect("(a') published after transient asset fetch errors", a2["state"] == "published")
    fetched = run.recorder.values("retry.scheduled", "delay", "asset.fetch")[fetch_retries:]
    run.expect(
        "(a') the asset fetch retried after 500 ms, 2 s", fetched == [0.5, 2.0], str(fetched)
    )

    # (b) invalid manifest (written around the API, as a broken authoring export would be).
    await world.draft("b", good)
    broken = dict(good, entry="missing.html")
    original_b = json.dumps(broken, sort_keys=True)
    await world.content.runtime.store.execute(
        "UPDATE content_drafts SET manifest = ? WHERE id = ?", (json.dumps(broken), "b")
    )
    b = await _failed_publish(run, world, "b", "CONTENT.MANIFEST.INVALID")
    run.expect(
        "(b) draft content byte-identical",
        json.dumps(b["manifest"], sort_keys=True) == original_b,
    )

    # (c) an asset missing from the asset store.
    missing = world.manifest(["index.html", "gone.mp4"])
    await world.draft("c", missing)
    retries_c = len(run.recorder.named("retry.scheduled", "asset.fetch"))
    c = await _failed_publish(run, world, "c", "CONTENT.ASSET.MISSING")
    run.expect(
        "(b)(c) permanent: no asset fetch retried",
        len(run.recorder.named("retry.scheduled", "asset.fetch")) == retries_c,
    )
    run.expect("(c) draft content unchanged", c["manifest"] == missing)

    # (d) the KMS fails every signing attempt.
    await world.draft("d", good)
    exhausted = len(run.recorder.named("retry.exhausted", "kms.sign"))
    async with run.fault(Failure("kms.sign")):
        await _failed_publish(run, world, "d", None)
    gave_up = len(run.recorder.named("retry.exhausted", "kms.sign")) - exhausted
    opened = run.recorder.named("breaker.opened", "kms.sign")
    run.expect(
        "(d) kms.sign gives up after 3 retries (or fails fast once its breaker opened)",
        gave_up >= 1 or bool(opened),
        f"{gave_up} exhausted, breaker opened {len(opened)}x",
    )
    attempts_per_call = _max_attempts(run, "kms.sign")
    run.expect("(d) never more than 4 attempts per signing call", attempts_per_call <= 4)
    await run.expect_event("saga.compensated", within=20 * 60, detection=False)
    kept = {steady["packageId"], a["packageId"], a2["packageId"]}
    stray = [k for k in await world.objects() if k.split("/")[2] not in kept]
    run.expect("only published packages have objects", stray == [], str(stray))
    expect_detection(run, "content.fm.1.1")


async def _failed_publish(run: Run, world, draft: str, code: str | None) -> dict:
    response = await world.publish(draft)
    run.require(f"({draft}) publish accepted", response.status_code == 202, response.text)
    publish_id = response.json()["publishId"]
    body = await world.settle(draft)
    state = await world.saga_state(publish_id)
    run.expect(f"({draft}) saga compensated", state == "compensated", state)
    run.expect(f"({draft}) draft back to approved", body["state"] == "approved", body["state"])
    error = body.get("error") or ""
    if code is not None:
        run.expect(f"({draft}) the author sees the reason {code}", code in error, error)
    alerts = [a for a in await world.alerts() if a["subject"] == draft]
    run.expect(
        f"({draft}) author alert naming {RUNBOOK}",
        len(alerts) == 1 and alerts[0]["runbook"] == RUNBOOK,
        str(alerts),
    )
    package = body.get("packageId")
    leftovers = [k for k in await world.objects() if package and package in k]
    run.expect(f"({draft}) no orphan package object", leftovers == [], str(leftovers))
    return body


def _max_attempts(run: Run, target: str) -> int:
    """The most attempts one call made (attempt numbers restart at 1 per call)."""
    attempts = [e.attempt for e in run.recorder.named("attempt.started", target)]
    return max(attempts, default=0)
