"""The inbox: de-duplication by message id and business key, in the handler's transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mitigate.bus.port import Message
from mitigate.clock import VirtualClock
from mitigate.durable.inbox import Inbox
from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import Store, Tx
from mitigate.errors import ConfigError
from mitigate.observe.observers import Recorder


def _booked(msg_id: str, tenant: str = "t1", appointment: str = "a42") -> Message:
    return Message(
        "scheduling.appointment_booked",
        b"",
        id=msg_id,
        headers={"tenant": tenant, "appointment": appointment},
    )


def _appointment(message: Message) -> str:
    return f"{message.headers['tenant']}/{message.headers['appointment']}"


async def _sessions_table(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.execute(
            "CREATE TABLE sessions (tenant TEXT, appointment TEXT, UNIQUE (tenant, appointment))"
        )


async def test_a_redelivered_or_re_sent_event_makes_one_session(store: Store) -> None:
    """comms.fm.18: one session per (tenant, appointment_id); duplicates recorded."""
    await _sessions_table(store)
    recorder = Recorder()
    inbox = Inbox(store, "sessions", business_key=_appointment, observers=[recorder])

    @inbox.handler
    async def create_session(message: Message, tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO sessions VALUES (?, ?)",
            (message.headers["tenant"], message.headers["appointment"]),
        )

    for message in (_booked("m1"), _booked("m1"), _booked("m2"), _booked("m3", appointment="a43")):
        await create_session(message)

    rows = await store.fetch("SELECT tenant, appointment FROM sessions ORDER BY appointment")
    assert rows == [("t1", "a42"), ("t1", "a43")]
    assert await inbox.duplicates() == 2 and await inbox.handled() == 2
    assert recorder.values("inbox.duplicate", "by") == ["id", "business_key"]
    assert await inbox.seen("m1") and not await inbox.seen("m2")


async def test_the_effect_and_the_dedupe_record_commit_together(store: Store) -> None:
    await _sessions_table(store)
    inbox = Inbox(store, "sessions", business_key=_appointment)
    crash = True

    @inbox.handler
    async def create_session(message: Message, tx: Tx) -> None:
        await tx.execute("INSERT INTO sessions VALUES ('t1', 'a42')")
        if crash:
            raise ConnectionError("calendar service down")  # after the write, before commit

    with pytest.raises(ConnectionError):
        await create_session(_booked("m1"))
    assert await store.fetch("SELECT COUNT(*) FROM sessions") == [(0,)]
    assert not await inbox.seen("m1")  # the redelivery will be handled

    crash = False
    await create_session(_booked("m1"))
    assert await store.fetch("SELECT COUNT(*) FROM sessions") == [(1,)]
    assert await inbox.seen("m1")


async def test_record_joins_the_callers_own_sqlite_transaction(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    store = await SqliteStore.open(path)
    inbox = Inbox(store, "audit")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE audit (msg TEXT)")
    conn.execute("BEGIN IMMEDIATE")
    assert await inbox.record(store.adopt(conn), _booked("m1")) == "new"
    conn.execute("INSERT INTO audit VALUES ('m1')")
    conn.execute("ROLLBACK")
    assert not await inbox.seen("m1")
    conn.execute("BEGIN IMMEDIATE")
    assert await inbox.record(store.adopt(conn), _booked("m1")) == "new"
    conn.execute("COMMIT")
    conn.execute("BEGIN IMMEDIATE")
    assert await inbox.record(store.adopt(conn), _booked("m1")) == "id"
    conn.execute("COMMIT")
    conn.close()
    await store.aclose()


async def test_consumers_keep_separate_inboxes(store: Store) -> None:
    one, two = Inbox(store, "one"), Inbox(store, "two")
    async with store.transaction() as tx:
        assert await one.record(tx, _booked("m1")) == "new"
        assert await two.record(tx, _booked("m1")) == "new"
        assert await one.record(tx, _booked("m1")) == "id"


async def test_prune_forgets_old_messages(tmp_path: Path) -> None:
    clock = VirtualClock()
    store = await SqliteStore.open(tmp_path / "v.db", clock=clock)
    inbox = Inbox(store, "c")
    async with store.transaction() as tx:
        await inbox.record(tx, _booked("old"))
    clock.advance(8 * 24 * 3600)
    async with store.transaction() as tx:
        await inbox.record(tx, _booked("new", appointment="a2"))
    assert await inbox.prune(older_than=7 * 24 * 3600) == 1
    assert not await inbox.seen("old") and await inbox.seen("new")
    await store.aclose()


def test_an_inbox_needs_a_consumer_name() -> None:
    with pytest.raises(ConfigError, match="consumer name"):
        Inbox(SqliteStore(":memory:"), "")
