"""``mitigate dlq list|show|replay|purge``: see the dead letters, replay them after a fix.

The store comes from ``--store`` or ``$MITIGATE_STORE`` (``sqlite:///mitigate.db`` by
default; ``postgresql://user@host/db?schema=mitigate`` for PostgreSQL). A replay writes
the message back into the outbox of that store, in the transaction that marks the entry
replayed; the service's relay publishes it. Exit codes: 0 ok, 1 an entry is missing or
nothing matched, 2 bad input. ``--json`` prints one JSON document for machines.

.. versionadded:: 0.1
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from mitigate.durable.cli import (
    BAD_INPUT,
    REFUSED,
    JsonOption,
    StoreOption,
    parse_age,
    with_store,
)
from mitigate.durable.dlq import DeadLetter, DeadLetters
from mitigate.durable.store import Store
from mitigate.errors import ConfigError

__all__ = ["dlq_app"]

T = TypeVar("T")
_STATES = ("dead", "replayed", "all")

dlq_app = typer.Typer(
    name="dlq",
    help="Dead-letter queue: list and show entries, replay them after a fix, purge them.",
    no_args_is_help=True,
    add_completion=False,
)

SourceOption = Annotated[
    str | None, typer.Option("--source", help="only entries from this consumer (or 'outbox')")
]


def _run(url: str, action: Callable[[DeadLetters], Awaitable[T]]) -> T:
    async def on_store(store: Store) -> T:
        return await action(DeadLetters(store))

    return with_store(url, on_store)


def _state(state: str) -> str | None:
    if state not in _STATES:
        Console(stderr=True).print(f"[red]--state must be one of {', '.join(_STATES)}[/red]")
        raise typer.Exit(BAD_INPUT)
    return None if state == "all" else state


def _when(wall: float | None) -> str:
    if wall is None:
        return "-"
    return datetime.datetime.fromtimestamp(wall, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


@dlq_app.command("list")
def list_command(
    store: StoreOption = "sqlite:///mitigate.db",
    source: SourceOption = None,
    state: Annotated[str, typer.Option("--state", help="dead, replayed or all")] = "dead",
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: JsonOption = False,
) -> None:
    """List DLQ entries, oldest first."""
    wanted = _state(state)
    entries = _run(store, lambda d: d.entries(source=source, state=wanted, limit=limit))
    if as_json:
        typer.echo(json.dumps({"entries": [e.as_dict(payload=False) for e in entries]}))
        return
    table = Table(title=f"DLQ ({len(entries)} {state})")
    for column in (
        "id",
        "source",
        "subject",
        "message",
        "attempts",
        "died (UTC)",
        "state",
        "reason",
    ):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            str(e.id),
            e.source,
            e.subject,
            e.msg_id,
            str(e.attempts),
            _when(e.dead_at),
            f"[yellow]{e.state}[/yellow]" if e.state == "dead" else e.state,
            e.reason if len(e.reason) <= 80 else e.reason[:77] + "...",
        )
    Console().print(table)


@dlq_app.command("show")
def show_command(
    entry: Annotated[int, typer.Argument(help="the entry's id")],
    store: StoreOption = "sqlite:///mitigate.db",
    as_json: JsonOption = False,
) -> None:
    """Show one entry with its headers and payload."""
    dead: DeadLetter = _run(store, lambda d: d.get(entry))
    data = dead.as_dict()
    if as_json:
        typer.echo(json.dumps(data))
        return
    console = Console()
    table = Table(show_header=False, title=f"DLQ entry {dead.id}")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name in ("source", "subject", "msg_id", "key", "attempts", "reason", "error_type", "state"):
        table.add_row(name, str(data[name]))
    table.add_row("died (UTC)", _when(dead.dead_at))
    table.add_row("replays", f"{dead.replays} (last {_when(dead.replayed_at)})")
    table.add_row("headers", json.dumps(dead.headers))
    table.add_row("payload", str(data.get("payload", data.get("payload_hex"))))
    console.print(table)


@dlq_app.command("replay")
def replay_command(
    entries: Annotated[list[int] | None, typer.Argument(help="entry ids")] = None,
    store: StoreOption = "sqlite:///mitigate.db",
    all_dead: Annotated[
        bool, typer.Option("--all", help="every dead entry (with --source)")
    ] = False,
    source: SourceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send entries again through the outbox (after the handler is fixed)."""
    if bool(entries) == all_dead:
        Console(stderr=True).print("[red]give entry ids, or --all (optionally with --source)[/red]")
        raise typer.Exit(BAD_INPUT)

    async def replay(dlq: DeadLetters) -> list[int]:
        ids = list(entries or [])
        if all_dead:
            ids = [e.id for e in await dlq.entries(source=source, state="dead", limit=1_000_000)]
        return await dlq.replay(ids) if ids else []

    done = _run(store, replay)
    if as_json:
        typer.echo(json.dumps({"replayed": done}))
    else:
        Console().print(f"replayed {len(done)} entr{'y' if len(done) == 1 else 'ies'}: {done}")
    if not done:
        raise typer.Exit(REFUSED)


@dlq_app.command("purge")
def purge_command(
    entries: Annotated[list[int] | None, typer.Argument(help="entry ids")] = None,
    store: StoreOption = "sqlite:///mitigate.db",
    source: SourceOption = None,
    state: Annotated[str, typer.Option("--state", help="dead, replayed or all")] = "replayed",
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="only entries older than e.g. 7d")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Delete entries: by id, or those matching the filters (replayed ones by default)."""
    try:
        age = parse_age(older_than) if older_than is not None else None
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(BAD_INPUT) from None
    wanted = None if entries else _state(state)
    count = _run(
        store, lambda d: d.purge(entries or None, source=source, state=wanted, older_than=age)
    )
    if as_json:
        typer.echo(json.dumps({"purged": count}))
    else:
        Console().print(f"purged {count} entr{'y' if count == 1 else 'ies'}")
