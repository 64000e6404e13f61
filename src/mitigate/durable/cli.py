"""``mitigate saga list|show|retry|compensate``: see and steer stored sagas.

The store comes from ``--store`` or ``$MITIGATE_STORE`` (``sqlite:///mitigate.db`` by
default; ``postgresql://user@host/db?schema=mitigate`` for PostgreSQL). Exit codes: 0 ok,
1 the saga is missing or cannot take the action now, 2 bad input. ``--json`` prints one
JSON document for machines.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from mitigate.durable import open_store
from mitigate.durable.saga_admin import (
    STATES,
    SagaRecord,
    compensate_saga,
    get_saga,
    list_sagas,
    retry_saga,
)
from mitigate.durable.store import Store
from mitigate.errors import ConfigError, MitigateError, StoreError

__all__ = ["JsonOption", "StoreOption", "parse_age", "saga_app", "with_store"]

OK, REFUSED, BAD_INPUT = 0, 1, 2
T = TypeVar("T")

saga_app = typer.Typer(
    name="saga",
    help="Durable sagas: list them, show one, retry a parked one, or compensate one.",
    no_args_is_help=True,
    add_completion=False,
)

StoreOption = Annotated[
    str,
    typer.Option("--store", envvar="MITIGATE_STORE", help="sqlite:///file.db or postgresql://..."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_age(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``5m``, ``2h``, ``1d``.

    >>> parse_age("5m"), parse_age("1.5h"), parse_age("30")
    (300.0, 5400.0, 30.0)
    >>> parse_age("soon")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.ConfigError: [MITIGATE.CONFIG.DURATION] 'soon' is not an age; write e.g. ...
    """
    match = _AGE.match(text)
    if not match:
        raise ConfigError(
            None,
            f"{text!r} is not an age",
            hint="write e.g. 90s, 5m, 2h, 1d",
            code="MITIGATE.CONFIG.DURATION",
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def with_store(url: str, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store at ``url``, run ``action`` on it, close it; errors become exit codes
    (2 for bad input, 1 for a refused operation). Shared by the saga and dlq commands.

    Every one of them acts on records that must already be there, so a SQLite file that
    does not exist is an error (exit 2), never a new empty database."""

    async def go() -> T:
        store = await open_store(url, must_exist=True)
        try:
            return await action(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(go())
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(BAD_INPUT) from None
    except MitigateError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(REFUSED) from None


def _when(wall: float | None) -> str:
    if wall is None:
        return "-"
    return datetime.datetime.fromtimestamp(wall, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ago(now: float, wall: float | None) -> str:
    if wall is None:
        return "-"
    seconds = max(0.0, now - wall)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


_STATE_STYLE = {
    "completed": "green",
    "compensated": "yellow",
    "compensation_failed": "bold red",
    "running": "cyan",
    "compensating": "magenta",
}


@saga_app.command("list")
def list_command(
    store: StoreOption = "sqlite:///mitigate.db",
    state: Annotated[str | None, typer.Option(help=f"one of {', '.join(STATES)}")] = None,
    name: Annotated[str | None, typer.Option(help="saga name, e.g. content.publish")] = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="not updated for this long: 5m, 2h")
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List sagas, newest first."""
    try:
        age = parse_age(older_than) if older_than is not None else None
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(BAD_INPUT) from None

    async def fetch(s: Store) -> tuple[float, list[SagaRecord]]:
        found = await list_sagas(s, state=state, name=name, older_than=age, limit=limit)
        return s.clock.wall(), found

    now, records = with_store(store, fetch)
    if as_json:
        typer.echo(json.dumps({"sagas": [r.as_dict() for r in records]}))
        return
    table = Table(title=f"sagas ({len(records)})")
    for column in ("id", "name", "state", "step", "age", "updated", "owner", "error"):
        table.add_column(column)
    for r in records:
        style = _STATE_STYLE.get(r.state, "")
        table.add_row(
            r.id,
            r.name,
            f"[{style}]{r.state}[/{style}]" if style else r.state,
            str(r.step),
            _ago(now, r.created_at),
            _ago(now, r.updated_at),
            r.lease_owner or "-",
            (r.error or "")[:60],
        )
    Console().print(table)


@saga_app.command("show")
def show_command(
    saga_id: Annotated[str, typer.Argument(help="the saga's id")],
    store: StoreOption = "sqlite:///mitigate.db",
    as_json: JsonOption = False,
) -> None:
    """Show one saga: state, lease, deadline and each step's record."""

    async def fetch(s: Store) -> tuple[float, SagaRecord]:
        found = await get_saga(s, saga_id)
        if found is None:
            raise StoreError(
                saga_id,
                "no such saga",
                hint="list them with `mitigate saga list`",
                code="MITIGATE.STORE.NOT_FOUND",
            )
        return s.clock.wall(), found

    now, r = with_store(store, fetch)
    if as_json:
        typer.echo(json.dumps(r.as_dict()))
        return
    console = Console()
    console.print(
        f"[bold]{r.id}[/bold]  {r.name}  [{_STATE_STYLE.get(r.state, '')}]{r.state}"
        f"[/{_STATE_STYLE.get(r.state, '')}]  step {r.step}  epoch {r.epoch}"
    )
    console.print(
        f"created {_when(r.created_at)} UTC, in this step for "
        f"{_ago(now, r.step_started_at)}, deadline {_when(r.deadline_at)}"
    )
    console.print(f"lease: {r.lease_owner or '-'} until {_when(r.lease_until)}")
    if r.error:
        console.print(f"[red]error:[/red] {r.error}")
    console.print(f"input: {json.dumps(r.input)}")
    table = Table(title="steps")
    for column in ("#", "result", "epoch", "done", "undone", "note"):
        table.add_column(column)
    for i, entry in enumerate(r.steps):
        if entry is None:
            table.add_row(str(i), "-", "-", "-", "-", "in flight" if i == r.step else "")
            continue
        note = "interrupted" if entry.get("interrupted") else ""
        if entry.get("undo_error"):
            note = f"undo failed: {entry['undo_error']}"
        table.add_row(
            str(i),
            json.dumps(entry.get("result"))[:60] if "result" in entry else "-",
            str(entry.get("epoch", "-")),
            _when(entry.get("done_at")),
            _when(entry.get("undone_at")),
            note,
        )
    console.print(table)


def _report(record: SagaRecord, as_json: bool, what: str) -> None:
    if as_json:
        typer.echo(json.dumps(record.as_dict()))
    else:
        Console().print(
            f"{record.id}: {what}; now {record.state} at step {record.step}, "
            f"claimable by any worker"
        )


@saga_app.command("retry")
def retry_command(
    saga_id: Annotated[str, typer.Argument(help="the saga's id")],
    store: StoreOption = "sqlite:///mitigate.db",
    force: Annotated[bool, typer.Option(help="take it from a worker whose lease is live")] = False,
    as_json: JsonOption = False,
) -> None:
    """Make a parked (compensation_failed) or stalled saga runnable again now."""

    async def act(s: Store) -> SagaRecord:
        return await retry_saga(s, saga_id, force=force)

    _report(with_store(store, act), as_json, "queued again")


@saga_app.command("compensate")
def compensate_command(
    saga_id: Annotated[str, typer.Argument(help="the saga's id")],
    store: StoreOption = "sqlite:///mitigate.db",
    reason: Annotated[str, typer.Option(help="recorded as the saga's error")] = (
        "compensation requested by operator"
    ),
    as_json: JsonOption = False,
) -> None:
    """Undo a saga that has not ended: its done steps are compensated in reverse order."""

    async def act(s: Store) -> SagaRecord:
        return await compensate_saga(s, saga_id, reason=reason)

    _report(with_store(store, act), as_json, "compensation queued")
