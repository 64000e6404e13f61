"""theme.fm.2.1: the primary database stops answering for 60 s (a failover). The alert
fires and readyz turns false within 20 s; writes get a fast 503 with Retry-After in the
error envelope; bundle reads keep coming, the publication taken from the cache; once the
primary answers, writes succeed and readyz is true. Every acknowledged write is there,
no refused one left a trace."""

from __future__ import annotations

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Latency, Run, experiment

RULE = "theme.rule.db-unavailable"
OUTAGE = 60.0


@experiment("theme.fm.2.1", failure_modes=["theme.fm.2.1"])
async def primary_lost(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    saved = await http.put("/v1/themes/brand", json=sample_document(name="v0"))
    await http.post("/v1/themes/brand/publish")
    read = await http.get("/v1/themes/brand/read")
    await run.steady("reads and writes work", saved.status_code == 200 and read.status_code == 200)
    etag = saved.headers["etag"]

    acked: list[str] = []
    refused: list[tuple[int, str, str, float]] = []
    reads: list[int] = []
    ready: list[tuple[float, int]] = []
    t0 = run.clock.now()
    async with run.fault(Latency("theme.db", delay=3600.0), duration=OUTAGE):
        n = 0
        seen = False
        while run.clock.now() - t0 < OUTAGE - 2.0:
            n += 1
            start = run.clock.now()
            answer = await http.put(
                "/v1/themes/brand", json=sample_document(name=f"v{n}"), headers={"if-match": etag}
            )
            took = run.clock.now() - start
            if answer.status_code == 200:
                acked.append(f"v{n}")
                etag = answer.headers["etag"]
            else:
                body = answer.json()
                refused.append(
                    (
                        answer.status_code,
                        body.get("code", ""),
                        answer.headers.get("retry-after", ""),
                        took,
                    )
                )
            reads.append((await http.get("/v1/themes/brand/read")).status_code)
            ready.append((run.clock.now() - t0, (await http.get("/readyz")).status_code))
            if not seen and alerts(run, RULE):
                seen = True
                run.detected(RULE)
            await run.wait(2.0)
    fired = alerts(run, RULE)
    run.expect(
        "the alert fires within 20 s",
        bool(fired) and fired[0].at - t0 <= 20.0,
        str([round(e.at - t0, 1) for e in fired]),
    )
    not_ready = [at for at, status in ready if status == 503]
    run.expect(
        "readyz false within 20 s", bool(not_ready) and not_ready[0] <= 20.0, str(not_ready[:3])
    )
    run.expect(
        "writes refused with 503, the envelope's code and Retry-After",
        len(refused) >= 10
        and all(
            s == 503 and c == "MELMASTOON.PLATFORM.DB_UNAVAILABLE" and r for s, c, r, _ in refused
        ),
        str(refused[:3]),
    )
    waited = [took for *_, took in refused if took >= 0.5]
    run.expect(
        "once detected, refusals are immediate: only the breaker's probes wait the 5 s cut",
        len(refused) >= 10 and len(waited) <= 3 + OUTAGE / 10.0 and max(waited) <= 5.5,
        f"{len(waited)} of {len(refused)} waited, slowest {max(waited) if waited else None}",
    )
    run.expect("bundle reads served throughout", reads and all(s == 200 for s in reads), str(reads))

    t1 = run.clock.now()
    await run.wait(15.0)
    after = await http.put(
        "/v1/themes/brand", json=sample_document(name="after"), headers={"if-match": etag}
    )
    healthy = await http.get("/readyz")
    run.expect(
        "once the primary answers, writes succeed and readyz is true",
        after.status_code == 200 and healthy.status_code == 200,
        f"{after.status_code} {healthy.status_code} at +{run.clock.now() - t1:.0f}s",
    )
    if after.status_code == 200:
        acked.append("after")
    row = await world.row("brand")
    run.expect(
        "no acknowledged write missing, no refused one applied",
        row is not None and int(row[0]) == 1 + len(acked) and f'"{acked[-1]}"' in str(row[2]),
        f"revision {row[0] if row else None}, acknowledged {len(acked)}",
    )
    run.mitigated("writes failed fast with 503; reads served from the cache")
