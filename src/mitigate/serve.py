"""``mitigate serve NAME``: run a service of the platform as a real process.

Services register under the ``mitigate.services`` entry point group (name -> a callable
``serve(*, host, port, backend) -> int``), so mitigate never imports a service by name.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Annotated, Any

import typer
from rich.console import Console

from mitigate.errors import ConfigError

__all__ = ["GROUP", "find_service", "serve_command"]

GROUP = "mitigate.services"


def find_service(name: str) -> Any:
    """The ``serve`` callable the service ``name`` registered."""
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        known = ", ".join(sorted(found)) or "none installed"
        raise ConfigError(
            name,
            f"no service of that name (services: {known})",
            hint="install the services package (uv sync) or check the name",
            code="MITIGATE.CONFIG.SERVE",
        )
    return found[name].load()


def serve_command(
    name: Annotated[str, typer.Argument(help="the service to run, e.g. content")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    backend: Annotated[
        str, typer.Option(help="embedded, or production servers e.g. postgres+nats+redis")
    ] = "embedded",
) -> None:
    """Run a service (its app and its workers) until SIGTERM or Ctrl-C."""
    try:
        serve = find_service(name)
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    raise typer.Exit(int(serve(host=host, port=port, backend=backend) or 0))
