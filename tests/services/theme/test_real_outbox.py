"""The theme's outbox on real servers (PostgreSQL, NATS JetStream, the real clock).

theme.fm.2.8: an outbox backlog drained by extra relays.
5 000 ``theme.published`` rows are written (1 000 themes, 5 revisions each) while the
service's link to NATS is slowed by mitigate's TCP fault proxy. The backlog stays above
1 000 rows, so the relay pool starts a 2nd and a 3rd relay (here after 2 s, not the
seed's 10 min: the virtual-time row proves the seed's timing; this run proves the
relays on the real servers). They claim disjoint rows (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL): each publishes some, together every row once; on the stream each theme's
revisions are in order and no message id appears twice.

theme.fm.2.22: JetStream refusing publishes at a stream limit (below)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from services.kit.runtime import Runtime
from services.theme.service import open_theme
from services.theme.settings import ThemeSettings
from tests.conftest import require_nats, require_postgres
from tests.services.real_servers import drop_schema_and_stream, run_in_folder, stream_messages

import mitigate
from mitigate.chaos import FaultProxy

ROWS, THEMES = 5000, 1000
RELAYS = ("theme-relay-1", "theme-relay-2", "theme-relay-3")
LIMIT, FULL_ROWS = 10, 30  # the stream's message quota, and the rows written against it


@contextlib.asynccontextmanager
async def _theme_on_real_servers(root: Path, **overrides: Any) -> AsyncIterator[Any]:
    """The theme service on PostgreSQL and NATS JetStream (its NATS link through a fault
    proxy), in a schema and a stream of its own, dropped afterwards; yields
    ``(theme, runtime, proxy, recorder, stream)``."""
    proxy = await FaultProxy("127.0.0.1", 4222).start()
    unique = f"x{uuid.uuid4().hex[:10]}"
    settings = ThemeSettings(
        data_dir=root,
        store="postgresql://theme_app@127.0.0.1:5432/postgres",  # the app role (RLS binds it)
        store_owner="postgresql://postgres@127.0.0.1:5432/postgres",  # runs the migrations
        schema_name=f"theme_{unique}",
        bus=f"nats://127.0.0.1:{proxy.port}",
        stream=f"THEME_{unique.upper()}",
        subject_prefix=f"{unique}.",
        poll=0.1,
        **overrides,
    )
    recorder = mitigate.Recorder()
    runtime = await Runtime.open(settings, observers=[recorder])
    theme = await open_theme(settings, runtime=runtime)
    assert theme.relays is not None
    stop = asyncio.Event()
    pool = asyncio.create_task(theme.relays.run(stop))
    try:
        yield theme, runtime, proxy, recorder, settings.stream
    finally:
        stop.set()
        await pool
        await theme.aclose()
        await proxy.stop()
        await drop_schema_and_stream(settings.schema_name, settings.stream)


async def _write(theme: Any, runtime: Any, rows: int, themes: int) -> None:
    """``rows`` published events of ``themes`` themes, 100 per transaction."""
    events = theme.themes.events
    for first in range(0, rows, 100):
        async with runtime.store.transaction() as tx:
            for row in range(first, min(first + 100, rows)):
                name, revision = f"t{row % themes}", row // themes + 1
                await events.published(tx, "acme", name, revision, f"sha-{row}")


async def _until_drained(theme: Any, limit: float) -> bool:
    loop = asyncio.get_running_loop()  # real seconds, for the deadline only
    started = loop.time()
    while loop.time() - started < limit:
        await asyncio.sleep(0.5)
        if (await theme.themes.events.outbox.backlog()).rows == 0:
            return True
    return False


def _in_order(stream: list[tuple[str | None, dict[str, Any]]]) -> dict[str, list[int]]:
    order: dict[str, list[int]] = {}
    for _, body in stream:
        order.setdefault(body["theme"], []).append(body["revision"])
    return order


async def _scale_out(root: Path) -> dict[str, Any]:
    fast = {"relay_scale_after": 2.0, "relay_check_every": 0.5}
    async with _theme_on_real_servers(root, **fast) as (theme, runtime, proxy, recorder, stream):
        proxy.latency(0.25, direction="downstream")  # every ack a quarter second late
        await _write(theme, runtime, ROWS, THEMES)
        drained = await _until_drained(theme, 120)
        counts = {
            relay: runtime.registry.get_sample_value(
                "theme_outbox_relay_published_total", {"relay": relay}
            )
            or 0.0
            for relay in RELAYS
        }
        scaled = [getattr(e, "relays", 0) for e in recorder.named("theme.relays_scaled")]
        return {
            "drained": drained,
            "counts": counts,
            "scaled": scaled,
            "stream": await stream_messages(stream),
        }


def test_extra_relays_drain_an_outbox_backlog_into_jetstream_each_row_once() -> None:
    require_postgres()
    require_nats()
    result = run_in_folder("theme-relays-", _scale_out)
    assert result["drained"], "the backlog drained"
    assert result["scaled"][:2] == [2, 3], result["scaled"]
    counts = result["counts"]
    assert sum(counts.values()) == ROWS and all(v > 0 for v in counts.values()), counts
    stream = result["stream"]
    ids = [mid for mid, _ in stream]
    assert len(ids) == ROWS and len(set(ids)) == ROWS, f"{len(ids)} on the stream"
    order = _in_order(stream)
    assert len(order) == THEMES
    assert all(v == sorted(v) for v in order.values()), "each theme's revisions in order"


async def _stream_full(root: Path) -> dict[str, Any]:
    async with _theme_on_real_servers(root) as (theme, runtime, _proxy, recorder, stream):
        bus = runtime.bus
        subjects = list((await bus.js.stream_info(stream)).config.subjects)
        await bus.ensure_stream(subjects, max_msgs=LIMIT, discard_new=True)  # the quota
        await _write(theme, runtime, FULL_ROWS, 4)
        refused_while_full = await _until_refused(recorder)
        kept = (await theme.themes.events.outbox.backlog()).rows
        alerted = [
            e for e in recorder.named("alert.raised") if e.rule == "theme.rule.bus-exhausted"
        ]
        await bus.ensure_stream(subjects)  # the quota is raised
        drained = await _until_drained(theme, 60)
        return {
            "refused": refused_while_full,
            "kept": kept,
            "alerted": alerted,
            "drained": drained,
            "stream": await stream_messages(stream),
        }


async def _until_refused(recorder: Any) -> int:
    for _ in range(100):
        refused = sum(getattr(e, "refused", 0) for e in recorder.named("theme.bus_exhausted"))
        if refused:
            return refused
        await asyncio.sleep(0.1)
    return 0


def test_a_full_stream_refuses_publishes_the_outbox_keeps_them_until_the_quota_is_raised() -> None:
    """theme.fm.2.22 on the real JetStream: a stream at its message limit (discard new)
    refuses publishes; the theme classifies them as resource exhausted and pages; the rows
    stay in the outbox; once the limit is raised they go out, each once, in order."""
    require_postgres()
    require_nats()
    result = run_in_folder("theme-full-", _stream_full)
    assert result["refused"] > 0, "publishes refused at the limit, classified as exhausted"
    assert result["kept"] == FULL_ROWS - LIMIT, "the refused rows stay in the outbox"
    assert result["alerted"], "the bus-exhausted rule paged"
    assert result["drained"]
    ids = [mid for mid, _ in result["stream"]]
    assert len(ids) == FULL_ROWS == len(set(ids))
    assert all(v == sorted(v) for v in _in_order(result["stream"]).values())
