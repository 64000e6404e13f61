"""The DLQ: entries with reason, attempts and payload; replay through the outbox; purge;
and the ``mitigate dlq`` command."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mitigate.bus.port import HEADER_REPLAY_FOR, Message
from mitigate.cli import app
from mitigate.clock import VirtualClock
from mitigate.durable.dlq import DeadLetterNotFoundError, DeadLetters
from mitigate.durable.outbox import Outbox
from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import Store
from mitigate.observe.observers import Recorder

runner = CliRunner(env={"COLUMNS": "200"})


async def _fill(dlq: DeadLetters) -> list[int]:
    return [
        await dlq.add(
            Message("tenant.created", b'{"tenant":"t2"}', id="e2", key="t2", headers={"v": "1"}),
            source="themes",
            reason="KeyError: 'plan'",
            attempts=6,
            error_type="KeyError",
        ),
        await dlq.add(
            Message("orders.created", b"\xff\x00", id="o9"),
            source="outbox",
            reason="cannot encode o9",
            attempts=3,
        ),
    ]


async def test_entries_keep_reason_attempts_and_payload(store: Store) -> None:
    dlq = DeadLetters(store)
    first, second = await _fill(dlq)
    entry = await dlq.get(first)
    assert (entry.source, entry.subject, entry.msg_id, entry.key) == (
        "themes",
        "tenant.created",
        "e2",
        "t2",
    )
    assert (entry.reason, entry.attempts, entry.error_type, entry.state) == (
        "KeyError: 'plan'",
        6,
        "KeyError",
        "dead",
    )
    assert entry.payload == b'{"tenant":"t2"}' and entry.headers == {"v": "1"}
    assert [e.id for e in await dlq.entries(source="outbox")] == [second]
    assert await dlq.count() == 2 and await dlq.count(source="themes") == 1
    assert (await dlq.get(second)).as_dict()["payload_hex"] == "ff00"
    with pytest.raises(DeadLetterNotFoundError, match=r"MITIGATE\.DLQ\.NOT_FOUND"):
        await dlq.get(999)


async def test_replay_goes_through_the_outbox_for_the_one_consumer(store: Store) -> None:
    recorder = Recorder()
    dlq = DeadLetters(store, observers=[recorder])
    first, second = await _fill(dlq)
    assert await dlq.replay([first, second]) == [first, second]
    rows = await store.fetch(
        "SELECT msg_id, dedup_id, msg_key, headers FROM mitigate_outbox ORDER BY id"
    )
    (m1, d1, k1, h1), (m2, _, _, h2) = rows
    assert (m1, k1) == ("e2", "t2") and d1 != "e2"  # same logical id, fresh broker id
    assert json.loads(h1) == {"v": "1", HEADER_REPLAY_FOR: "themes"}
    assert m2 == "o9" and h2 is None  # an outbox row replays to every consumer
    assert {e.state for e in await dlq.entries(state=None)} == {"replayed"}
    assert recorder.values("dlq.replayed", "msg_id") == ["e2", "o9"]

    assert await dlq.replay([first]) == [first]  # a second fix: sent again, new broker id
    ids = await store.fetch("SELECT dedup_id FROM mitigate_outbox WHERE msg_id = 'e2'")
    assert len({r[0] for r in ids}) == 2
    assert (await dlq.get(first)).replays == 2


async def test_replay_of_an_unknown_entry_writes_nothing(store: Store) -> None:
    dlq = DeadLetters(store)
    first, _ = await _fill(dlq)
    with pytest.raises(DeadLetterNotFoundError):
        await dlq.replay([first, 404])
    assert (await Outbox(store).backlog()).rows == 0
    assert (await dlq.get(first)).state == "dead"


async def test_purge_by_id_and_by_filters(tmp_path: Path) -> None:
    clock = VirtualClock()
    store = await SqliteStore.open(tmp_path / "v.db", clock=clock)
    dlq = DeadLetters(store)
    first, second = await _fill(dlq)
    clock.advance(3600)
    third = await dlq.add(Message("a.b", b"", id="x"), source="themes", reason="r", attempts=1)
    assert await dlq.purge(older_than=1800, source="themes") == 1
    assert await dlq.purge([second]) == 1
    assert await dlq.purge([]) == 0
    assert [e.id for e in await dlq.entries(state=None)] == [third]
    assert first != third
    await store.aclose()


# -- the command ---------------------------------------------------------------------------


def _seed(path: Path) -> list[int]:
    async def go() -> list[int]:
        store = await SqliteStore.open(path)
        ids = await _fill(DeadLetters(store))
        await store.aclose()
        return ids

    return asyncio.run(go())


def test_cli_lists_and_shows_entries(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    first, second = _seed(tmp_path / "app.db")

    listed = runner.invoke(app, ["dlq", "list", "--store", url, "--json"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.output)["entries"]
    assert [(e["id"], e["source"], e["attempts"]) for e in data] == [
        (first, "themes", 6),
        (second, "outbox", 3),
    ]
    table = runner.invoke(app, ["dlq", "list", "--store", url, "--source", "themes"])
    assert table.exit_code == 0 and "KeyError: 'plan'" in table.output and "o9" not in table.output

    shown = runner.invoke(app, ["dlq", "show", str(first), "--store", url, "--json"])
    assert json.loads(shown.output)["payload"] == '{"tenant":"t2"}'
    pretty = runner.invoke(app, ["dlq", "show", str(first), "--store", url])
    assert pretty.exit_code == 0 and "tenant.created" in pretty.output
    missing = runner.invoke(app, ["dlq", "show", "999", "--store", url])
    assert missing.exit_code == 1 and "MITIGATE.DLQ.NOT_FOUND" in missing.output


def test_cli_replays_then_purges(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    first, second = _seed(tmp_path / "app.db")

    bad = runner.invoke(app, ["dlq", "replay", "--store", url])
    assert bad.exit_code == 2
    replayed = runner.invoke(
        app, ["dlq", "replay", "--all", "--source", "themes", "--store", url, "--json"]
    )
    assert replayed.exit_code == 0 and json.loads(replayed.output) == {"replayed": [first]}
    again = runner.invoke(app, ["dlq", "replay", str(second), "--store", url])
    assert again.exit_code == 0 and "replayed 1 entry" in again.output
    nothing = runner.invoke(app, ["dlq", "replay", "--all", "--store", url])
    assert nothing.exit_code == 1  # nothing dead is left

    state = runner.invoke(app, ["dlq", "list", "--state", "nope", "--store", url])
    assert state.exit_code == 2
    purged = runner.invoke(app, ["dlq", "purge", "--store", url, "--json"])
    assert json.loads(purged.output) == {"purged": 2}  # replayed entries by default
    left = runner.invoke(app, ["dlq", "list", "--state", "all", "--store", url, "--json"])
    assert json.loads(left.output) == {"entries": []}
    bad_age = runner.invoke(app, ["dlq", "purge", "--older-than", "soon", "--store", url])
    assert bad_age.exit_code == 2

    async def outbox_rows() -> int:
        store = await SqliteStore.open(tmp_path / "app.db")
        rows = (await Outbox(store).backlog()).rows
        await store.aclose()
        return rows

    assert asyncio.run(outbox_rows()) == 2  # both replays wait in the outbox for the relay
