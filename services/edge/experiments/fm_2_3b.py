"""edge.fm.2.3b: KV changes take up to 60 s to reach every location.

A feature flag is flipped: readers at every location see the new value within 60 s and
never later (the slowest exactly at 60 s), and the writer is told the bound. Session
state written then read at a far location is always current (it is not on KV). The lint
refuses a catalog that puts session state on KV.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import yaml
from services.edge.harness import alerts, expect_traceable, open_world
from services.edge.kv_lint import lint_catalog, main
from services.kit.embedded_redis import redis_address

from mitigate.chaos import Run, experiment

LOCATIONS = ("origin", "eu", "us", "ap", "elsewhere")
CATALOG = Path(__file__).resolve().parents[1] / "catalog.yaml"


@experiment("edge.fm.2.3b", failure_modes=["edge.fm.2.3b"])
async def kv_propagation(run: Run) -> None:
    bound = float(run.catalog.failure_mode("edge.fm.2.3b").details["propagation bound seconds"])
    (host, port), stop_redis = redis_address(run)  # the real one under --backend ...redis
    run.rollback(stop_redis)
    world = await open_world(run, kv=f"redis://{host}:{port}/0")
    http = world.tenant("acme")
    await http.put("/v1/flags/dark-mode", json={"value": "off"})
    await run.wait(bound + 1)
    steady = [await http.get("/v1/flags/dark-mode", params={"location": x}) for x in LOCATIONS]
    await run.steady(
        "every location reads the flag", all(r.json()["value"] == "off" for r in steady)
    )

    flipped = await http.put("/v1/flags/dark-mode", json={"value": "on"})
    t0 = run.clock.now()
    run.expect(
        "the writer is told the propagation bound",
        f"within {bound:g} s" in flipped.json().get("propagation", ""),
        flipped.text,
    )
    first_seen: dict[str, float] = {}
    reverted = []
    for step in range(0, int(bound) + 11, 5):
        await run.clock.asleep(max(0.0, t0 + step - run.clock.now()))
        for where in LOCATIONS:
            value = (await http.get("/v1/flags/dark-mode", params={"location": where})).json()
            if value["value"] == "on":
                first_seen.setdefault(where, run.clock.now() - t0)
            elif where in first_seen:
                reverted.append(where)
    run.expect(
        f"every location sees the change within {bound:g} s",
        set(first_seen) == set(LOCATIONS) and max(first_seen.values()) <= bound,
        str(first_seen),
    )
    run.expect("the slowest location sees it at the bound", first_seen.get("ap") == bound)
    run.expect("no location goes back to the old value", not reverted, str(reverted))
    run.expect("the propagation is detected", bool(alerts(run, "edge.rule.kv-propagating")))

    stale = []
    for i in range(1, 11):
        await http.post(
            "/v1/counters/session/apply",
            json={"operations": [{"op": "add", "field": "n", "amount": 1}]},
        )
        seen = await http.get("/v1/counters/session", params={"location": "ap"})
        if seen.json()["counters"].get("n") != i:
            stale.append((i, seen.json()["counters"]))
    run.expect("session state read-after-write is always current", not stale, str(stale[:3]))

    run.expect("the catalog passes the KV lint", lint_catalog(CATALOG, switches=run.switches) == [])
    bad = yaml.safe_load(CATALOG.read_text())
    for row in bad["failure_modes"]:
        if row["id"] == "edge.fm.2.3b":
            row["details"]["store of session-state"] = "kv"
    bad_path = world.root / "catalog-with-state-on-kv.yaml"
    bad_path.write_text(yaml.safe_dump(bad))
    refused = lint_catalog(bad_path, switches=run.switches)
    run.expect(
        "the lint refuses session state on KV, naming the entry",
        len(refused) == 1 and "store of session-state" in refused[0],
        str(refused),
    )
    if refused:
        run.detected("kv lint")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main([str(bad_path)])
        run.expect("the lint command fails", status == 1, out.getvalue())
    expect_traceable(run, world, required=False)
