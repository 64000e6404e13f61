"""edge.fm.2.3a: KV read or write errors.

KV is Redis behind a TCP fault proxy (the real server with ``--backend ...+redis``, an
embedded Redis-protocol server on the embedded default). Two connection failures in a row on a read
and on a write: both succeed after exponential retries. Open connections reset: the next
read still answers from KV. Redis down: reads are misses served from the source of truth,
a flag write is stored, reported as not copied to KV and counted; the alert fires. After
Redis is back the flag reads as written (the stale KV copy is not served).
"""

from __future__ import annotations

from services.edge.harness import alerts, expect_traceable, open_world
from services.kit.embedded_redis import redis_address

from mitigate.chaos import Failure, FaultProxy, Run, experiment


def _delays(run: Run, target: str, since: float) -> list[float]:
    return [
        round(getattr(e, "delay", -1.0), 3)
        for e in run.recorder.named("retry.scheduled", target)
        if e.at >= since
    ]


@experiment("edge.fm.2.3a", failure_modes=["edge.fm.2.3a"])
async def kv_errors(run: Run) -> None:
    redis, stop_redis = redis_address(run)  # the real one under --backend ...redis
    run.rollback(stop_redis)
    proxy = await FaultProxy(*redis).start()
    run.rollback(proxy.stop)
    world = await open_world(run, kv=f"redis://127.0.0.1:{proxy.port}/0")
    http = world.tenant("acme")
    put = await http.put("/v1/flags/beta", json={"value": "on"})
    await run.steady("a flag write reaches KV", put.json().get("kv") == "written")
    got = await http.get("/v1/flags/beta", params={"location": "origin"})
    await run.steady("the flag reads from KV", got.json().get("servedFrom") == "kv")

    t0 = run.clock.now()
    async with run.fault(Failure("kv.get", times=2, error=ConnectionResetError)):
        read = await http.get("/v1/flags/beta", params={"location": "origin"})
    run.expect(
        "2 failed reads, then served from KV after retries",
        read.json() == {"name": "beta", "value": "on", "servedFrom": "kv"},
        read.text,
    )
    run.expect("read retries back off exponentially", _delays(run, "kv.get", t0) == [0.05, 0.1])
    async with run.fault(Failure("kv.put", times=2, error=ConnectionResetError)):
        wrote = await http.put("/v1/flags/gamma", json={"value": "on"})
    run.expect("2 failed writes, then written after retries", wrote.json().get("kv") == "written")

    proxy.reset_connections()  # the real connections to Redis are reset
    again = await http.get("/v1/flags/beta", params={"location": "origin"})
    run.expect(
        "after a reset the read still answers from KV", again.json().get("servedFrom") == "kv"
    )

    await proxy.down()
    down_read = await http.get("/v1/flags/beta", params={"location": "origin"})
    run.expect(
        "Redis down: the read is a miss served from the source of truth",
        down_read.status_code == 200
        and down_read.json().get("servedFrom") == "source"
        and down_read.json().get("value") == "on",
        down_read.text,
    )
    flipped = await http.put("/v1/flags/beta", json={"value": "off"})
    run.expect(
        "Redis down: the write is stored and reported as not copied to KV",
        flipped.status_code == 200 and flipped.json().get("kv") == "write-failed",
        flipped.text,
    )
    metrics = (await world.client().get("/metrics")).text
    run.expect("the write failure is counted", "kv_write_failures_total 1.0" in metrics)
    run.expect("the KV write alert fired", bool(alerts(run, "edge.rule.kv-write-failures")))
    await proxy.up()
    after = await http.get("/v1/flags/beta", params={"location": "origin"})
    run.expect(
        "after recovery the flag reads as written (no stale KV copy)",
        after.json().get("value") == "off",
        after.text,
    )
    stored = await world.edge.flags.stored("acme", "beta")
    run.expect("the source of truth holds the last write", stored == "off", str(stored))
    expect_traceable(run, world, required=False)
