"""WorkQueue on SQLite and PostgreSQL, in virtual time: leases, retries, DLQ, parking, workers."""

from __future__ import annotations

import asyncio

import pytest

import mitigate
from mitigate.clock import VirtualClock
from mitigate.durable.queue import Job, LeaseLostError, QueueError, WorkQueue
from mitigate.observe.observers import Recorder
from tests.durable.conftest import StoreFactory


async def _queue(
    store_factory: StoreFactory, **kw: object
) -> tuple[WorkQueue, VirtualClock, Recorder]:
    clock = VirtualClock()
    store = await store_factory(clock=clock)
    rec = Recorder()
    options: dict[str, object] = {"max_attempts": 3, "lease": 30.0, "observers": [rec]}
    options.update(kw)
    queue = WorkQueue(store, "thumbnails", **options)  # type: ignore[arg-type]
    return queue, clock, rec


async def test_enqueue_claim_complete_and_counts(store_factory: StoreFactory) -> None:
    queue, _, rec = await _queue(store_factory)
    first = await queue.enqueue({"image": "i1"})
    await queue.enqueue({"image": "i2"})
    assert (await queue.counts())["queued"] == 2
    (job,) = await queue.claim("w1")
    assert job.id == first.id and job.payload == {"image": "i1"}
    assert (job.state, job.attempts, job.worker) == ("leased", 1, "w1")
    await queue.complete(job)
    assert await queue.counts() == {"queued": 1, "leased": 0, "done": 1, "parked": 0, "dead": 0}
    done = await queue.get(job.id)
    assert done is not None and done.state == "done" and done.finished_at is not None
    assert [j.payload["image"] for j in await queue.jobs()] == ["i1", "i2"]
    assert [j.id for j in await queue.jobs(state="done")] == [job.id]
    assert rec.names() == ["queue.enqueued", "queue.enqueued", "queue.completed"]


async def test_same_key_is_the_same_job_whatever_its_state(store_factory: StoreFactory) -> None:
    queue, _, rec = await _queue(store_factory)
    job = await queue.enqueue({"n": 1}, key="draft-d1")
    again = await queue.enqueue({"n": 2}, key="draft-d1")
    assert again.id == job.id and again.payload == {"n": 1}
    (claimed,) = await queue.claim("w1")
    await queue.complete(claimed)
    after = await queue.enqueue({"n": 3}, key="draft-d1")
    assert after.id == job.id and after.state == "done"
    assert (await queue.counts())["done"] == 1 and sum((await queue.counts()).values()) == 1
    assert rec.values("queue.enqueued", "duplicate") == [False, True, True]


async def test_enqueue_inside_the_callers_transaction(store_factory: StoreFactory) -> None:
    queue, _, _ = await _queue(store_factory)
    with pytest.raises(RuntimeError):
        async with queue.store.transaction() as tx:
            await queue.enqueue({"n": 1}, tx=tx)
            raise RuntimeError("the business write failed")
    assert (await queue.counts())["queued"] == 0  # rolled back with the caller
    async with queue.store.transaction() as tx:
        await queue.enqueue({"n": 2}, tx=tx)
    assert (await queue.counts())["queued"] == 1


async def test_failures_retry_on_the_schedule_then_go_dead(store_factory: StoreFactory) -> None:
    retry = mitigate.Retry(2, schedule=(10, 60))
    queue, clock, rec = await _queue(store_factory, retry=retry)
    job = await queue.enqueue({"image": "broken"})
    (a1,) = await queue.claim("w1")
    failed = await queue.fail(a1, ValueError("decoder crashed"))
    assert failed.state == "queued" and failed.last_error == "ValueError: decoder crashed"
    assert await queue.claim("w1") == []  # not due for 10 s
    clock.advance(9.9)
    assert await queue.claim("w1") == []
    clock.advance(0.1)
    (a2,) = await queue.claim("w1")
    assert a2.attempts == 2
    await queue.fail(a2, "timeout from cdn")
    clock.advance(59)
    assert await queue.claim("w1") == []
    clock.advance(1)
    (a3,) = await queue.claim("w1")
    dead = await queue.fail(a3, ValueError("still broken"))
    assert dead.state == "dead" and dead.attempts == 3
    clock.advance(3600)
    assert await queue.claim("w1") == []  # dead jobs never run again by themselves
    assert (await queue.counts())["dead"] == 1
    assert rec.values("queue.failed", "delay") == [10.0, 60.0]
    (event,) = rec.named("queue.dead_lettered")
    assert event.fields()["job_id"] == job.id and event.fields()["attempts"] == 3


async def test_a_permanent_failure_is_dead_at_once(store_factory: StoreFactory) -> None:
    queue, _, _ = await _queue(store_factory)
    await queue.enqueue({"image": "not-an-image"})
    (job,) = await queue.claim("w1")
    dead = await queue.fail(job, ValueError("not a PNG"), permanent=True)
    assert dead.state == "dead" and dead.attempts == 1


async def test_an_expired_lease_is_taken_over_and_the_old_worker_cannot_settle_it(
    store_factory: StoreFactory,
) -> None:
    queue, clock, rec = await _queue(store_factory, lease=30.0)
    await queue.enqueue({"image": "i1"})
    (held,) = await queue.claim("crashed-worker")
    assert await queue.claim("w2") == []  # leased: nobody else may take it
    clock.advance(29)
    assert await queue.claim("w2") == []
    clock.advance(1)  # the crashed worker never comes back; its lease runs out
    (taken,) = await queue.claim("w2")
    assert taken.id == held.id and taken.worker == "w2" and taken.attempts == 2
    lost = rec.named("queue.lease_expired")
    assert lost[0].fields()["previous_worker"] == "crashed-worker"
    # The first worker wakes up late: its result is refused, the job stays with w2.
    with pytest.raises(LeaseLostError) as info:
        await queue.complete(held)
    assert info.value.code == "MITIGATE.QUEUE.LEASE_LOST"
    with pytest.raises(LeaseLostError):
        await queue.fail(held, "late")
    await queue.complete(taken)
    assert (await queue.counts())["done"] == 1


async def test_a_job_that_kills_every_worker_ends_dead(store_factory: StoreFactory) -> None:
    queue, clock, _ = await _queue(store_factory, lease=5.0, max_attempts=2)
    await queue.enqueue({"image": "poison"})
    await queue.claim("w1")
    clock.advance(5)
    await queue.claim("w2")
    clock.advance(5)
    assert await queue.claim("w3") == []  # the last attempt's lease ran out: dead, not retried
    (job,) = await queue.jobs(state="dead")
    assert "lease of w2 ran out on attempt 2 of 2" in (job.last_error or "")


async def test_extend_keeps_a_long_job(store_factory: StoreFactory) -> None:
    queue, clock, _ = await _queue(store_factory, lease=10.0)
    await queue.enqueue({"video": "v1"})
    (job,) = await queue.claim("w1")
    clock.advance(8)
    job = await queue.extend(job)
    clock.advance(8)
    assert await queue.claim("w2") == []  # still held thanks to the heartbeat
    await queue.complete(job)


async def test_park_and_unpark(store_factory: StoreFactory) -> None:
    queue, _, rec = await _queue(store_factory)
    job = await queue.enqueue({"import": "archive-7"})
    (claimed,) = await queue.claim("w1")
    parked = await queue.park(claimed, "archive flagged by the scanner: needs a person")
    assert parked.state == "parked" and parked.park_reason.startswith("archive flagged")  # type: ignore[union-attr]
    assert await queue.claim("w1") == []
    with pytest.raises(LeaseLostError):
        await queue.complete(claimed)
    back = await queue.unpark(job.id)
    assert (back.state, back.attempts) == ("queued", 0)
    (again,) = await queue.claim("w1")
    assert again.id == job.id
    with pytest.raises(QueueError) as info:
        await queue.unpark(job.id)
    assert info.value.code == "MITIGATE.QUEUE.CONFLICT"
    with pytest.raises(QueueError) as info:
        await queue.park("no-such-job", "x")
    assert info.value.code == "MITIGATE.QUEUE.NOT_FOUND"
    assert rec.names().count("queue.parked") == 1 and rec.names().count("queue.unparked") == 1


async def test_a_dead_job_can_be_queued_again_after_a_fix(store_factory: StoreFactory) -> None:
    queue, _, _ = await _queue(store_factory)
    job = await queue.enqueue({"n": 1})
    (claimed,) = await queue.claim("w1")
    await queue.fail(claimed, "bad", permanent=True)
    assert (await queue.unpark(job.id)).state == "queued"


async def test_two_queues_on_one_store_do_not_mix(store_factory: StoreFactory) -> None:
    queue, _, _ = await _queue(store_factory)
    other = WorkQueue(queue.store, "emails")
    await queue.enqueue({"n": 1}, key="k")
    await other.enqueue({"n": 2}, key="k")  # same key, other queue: another job
    assert (await other.counts())["queued"] == 1
    (job,) = await other.claim("w1")
    assert job.payload == {"n": 2}


async def test_bad_payload_is_refused_and_nothing_is_stored(store_factory: StoreFactory) -> None:
    queue, _, _ = await _queue(store_factory)
    with pytest.raises(mitigate.StoreError):
        await queue.enqueue({"when": object()})
    assert sum((await queue.counts()).values()) == 0


async def test_concurrent_claims_never_hand_one_job_to_two_workers(
    store_factory: StoreFactory,
) -> None:
    clock = VirtualClock()
    stores = [await store_factory(clock=clock) for _ in range(3)]
    queues = [WorkQueue(s, "thumbnails") for s in stores]
    for n in range(30):
        await queues[0].enqueue({"n": n})

    async def drain(q: WorkQueue, who: str) -> list[str]:
        got: list[str] = []
        while batch := await q.claim(who, limit=4):
            got.extend(j.id for j in batch)
        return got

    results = await asyncio.gather(*(drain(q, f"w{i}") for i, q in enumerate(queues)))
    claimed = [job_id for got in results for job_id in got]
    assert len(claimed) == 30 and len(set(claimed)) == 30


async def test_worker_loop_handles_retries_and_survives_a_crashed_peer(
    store_factory: StoreFactory,
) -> None:
    queue, clock, rec = await _queue(
        store_factory, lease=30.0, retry=mitigate.Retry(2, schedule=(5,))
    )
    for n in range(3):
        await queue.enqueue({"n": n}, key=f"k{n}")
    (orphan,) = await queue.claim("crashed")  # a worker that claims k0 and dies
    seen: list[tuple[int, int]] = []

    async def handler(job: Job) -> None:
        seen.append((job.payload["n"], job.attempts))
        if job.payload["n"] == 1 and job.attempts == 1:
            raise ConnectionError("cdn reset")
        if job.payload["n"] == 2:
            await queue.park(job, "needs review")

    stop = asyncio.Event()
    task = asyncio.create_task(queue.run(handler, worker="w1", stop=stop, poll=1.0))
    while (await queue.counts())["done"] < 2:
        await clock.asleep(1)
    stop.set()
    await task
    assert sorted(seen) == [(0, 2), (1, 1), (1, 2), (2, 1)]
    assert await queue.counts() == {"queued": 0, "leased": 0, "done": 2, "parked": 1, "dead": 0}
    assert clock.now() >= 30  # k0 waited for the crashed worker's lease
    assert orphan.id in [e.fields()["job_id"] for e in rec.named("queue.lease_expired")]


async def test_permanent_errors_in_the_loop_go_dead(store_factory: StoreFactory) -> None:
    queue, clock, _ = await _queue(store_factory)
    await queue.enqueue({"n": 1})

    async def handler(job: Job) -> None:
        raise KeyError("schema mismatch")

    stop = asyncio.Event()
    task = asyncio.create_task(queue.run(handler, stop=stop, permanent_on=(KeyError,)))
    while (await queue.counts())["dead"] < 1:
        await clock.asleep(1)
    stop.set()
    await task
    (job,) = await queue.jobs(state="dead")
    assert job.attempts == 1


def test_bad_options_are_refused() -> None:
    from mitigate.durable.sqlite import SqliteStore

    store = SqliteStore(":memory:")
    with pytest.raises(mitigate.ConfigError):
        WorkQueue(store, "q", max_attempts=0)
    with pytest.raises(mitigate.ConfigError):
        WorkQueue(store, "q", lease=0)
    with pytest.raises(mitigate.ConfigError):
        WorkQueue(store, "")


async def test_the_worker_loop_survives_a_store_that_fails_for_a_while(
    store_factory: StoreFactory,
) -> None:
    queue, clock, _ = await _queue(store_factory)
    await queue.enqueue({"n": 1})
    handled: list[int] = []

    async def handler(job: Job) -> None:
        handled.append(job.payload["n"])

    # The queue's table is gone for a while (a botched deploy, a restore in progress).
    await queue.store.execute("ALTER TABLE mitigate_queue RENAME TO mitigate_queue_away")
    stop = asyncio.Event()
    task = asyncio.create_task(queue.run(handler, stop=stop, poll=1.0))
    await clock.asleep(10)
    assert handled == [] and not task.done()  # failing claims did not end the loop
    await queue.store.execute("ALTER TABLE mitigate_queue_away RENAME TO mitigate_queue")
    while not handled:
        await clock.asleep(1)
    stop.set()
    await task
    assert handled == [1] and (await queue.counts())["done"] == 1
