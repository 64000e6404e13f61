"""The ``mitigate`` command: a thin root; each area registers its own sub-commands."""

from __future__ import annotations

import typer

from mitigate.catalog.cli import catalog_app
from mitigate.chaos.cli import verify
from mitigate.demo import demo_command
from mitigate.durable.cli import saga_app
from mitigate.durable.dlq_cli import dlq_app
from mitigate.report.cli import report
from mitigate.serve import serve_command

app = typer.Typer(
    name="mitigate",
    help="Failure modes as code: catalogs, policies, and the experiments that prove them.",
    no_args_is_help=True,
    add_completion=False,
)

# Sub-command groups, one line each (areas own their CLI modules).
app.add_typer(catalog_app, name="catalog")
app.command("verify")(verify)
app.command("report")(report)
app.command("demo")(demo_command)
app.add_typer(saga_app, name="saga")
app.add_typer(dlq_app, name="dlq")
app.command("serve")(serve_command)


@app.callback()
def _root() -> None:
    """mitigate: failure modes as code."""


if __name__ == "__main__":  # pragma: no cover
    app()
