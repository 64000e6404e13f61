"""``mitigate verify``: run every experiment of the given services and judge them.

Exit codes: 0 when everything is verified, 1 when a failure mode or experiment is not
(or, with ``--mutate``, when an experiment survives a removed mitigation), 2 on bad input.

.. versionadded:: 0.1
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from mitigate.chaos.backend import EMBEDDED, parse_backend
from mitigate.chaos.experiment import ExperimentResult
from mitigate.chaos.mutate import MitigationVerdict, Mutant, mitigation_verdicts, mutation_check
from mitigate.chaos.runner import Runner, Suite, discover
from mitigate.errors import ConfigError
from mitigate.report.html import render_html
from mitigate.report.journal import write_journal
from mitigate.report.terminal import print_results

__all__ = ["verify"]


def verify(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Service folders, catalog files or experiments modules "
            "(default: every service in services/ and examples/).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results as JSON for machines.")
    ] = False,
    real_time: Annotated[
        bool, typer.Option("--real-time", help="Run on the real clock instead of virtual time.")
    ] = False,
    mutate: Annotated[
        bool,
        typer.Option(
            "--mutate",
            help="Remove each failure mode's mitigations in turn (policies become "
            "pass-throughs, switches are turned off) and report experiments that still pass.",
        ),
    ] = False,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the JSON journal and the HTML report.")
    ] = Path(".mitigate"),
    seed: Annotated[int, typer.Option(help="Seed for the faults' random draws.")] = 0,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="embedded (SQLite, in-process bus) or production servers joined by '+': "
            "postgres, nats, redis, s3 (e.g. postgres+nats+redis); experiments read it as "
            "run.backend.",
        ),
    ] = EMBEDDED,
) -> None:
    """Inject each failure mode and verify it is detected, mitigated, and nothing is lost."""
    err = Console(stderr=True)
    console = Console(stderr=True) if as_json else Console()
    try:
        backend = parse_backend(backend)
        suites = discover([str(p) for p in paths or []])
    except ConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc

    total = sum(len(s.experiments) for s in suites)
    results: list[ExperimentResult] = []
    mutants: list[Mutant] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("verifying", total=total)

        def advance(result: ExperimentResult) -> None:
            if result.mutation is None:
                progress.update(task, advance=1, description=f"{result.service} {result.id}")

        runner = Runner(real_time=real_time, seed=seed, backend=backend, on_result=advance)
        baselines: list[tuple[Suite, list[ExperimentResult]]] = []
        for suite in suites:
            suite_results = runner.run_suite(suite)
            results.extend(suite_results)
            baselines.append((suite, suite_results))
        if mutate:
            mutation_task = progress.add_task("mutating", total=None)
            for suite, baseline in baselines:
                mutants.extend(
                    mutation_check(
                        suite,
                        baseline,
                        runner,
                        on_mutant=lambda m: progress.update(
                            mutation_task, description=f"without {m.removed}: {m.experiment}"
                        ),
                    )
                )

    verdicts = mitigation_verdicts(mutants)
    write_journal(out / "verify.json", results, mutants=mutants, backend=backend)
    (out / "report.html").parent.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(render_html(results, verdicts=verdicts), encoding="utf-8")

    if as_json:
        payload: dict[str, object] = {
            "backend": backend,
            "results": [r.summary() for r in results],
        }
        if mutate:
            payload["mutants"] = [m.to_json() for m in mutants]
            payload["mitigations"] = [v.to_json() for v in verdicts]
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        print_results(results, console, verdicts)
        if mutate:
            _print_mutants(mutants, verdicts, console)
        console.print(f"journal: {out / 'verify.json'}  report: {out / 'report.html'}")

    unverified = any(r.verdict != "verified" for r in results)
    # A mitigation is shown necessary when some experiment of its failure mode fails
    # without it; other experiments of that failure mode may test other mitigations.
    survived = any(v.outcome != "killed" for v in verdicts)
    if unverified or survived:
        raise typer.Exit(1)


def _print_mutants(
    mutants: list[Mutant], verdicts: list[MitigationVerdict], console: Console
) -> None:
    table = Table(title="mutation check: each mitigation removed in turn")
    for name in ("failure mode", "removed", "kind", "outcome", "caught by", "passed anyway"):
        table.add_column(name)
    for v in verdicts:
        style = {"killed": "green", "survived": "red", "error": "magenta"}[v.outcome]
        table.add_row(
            v.failure_mode,
            v.removed,
            v.kind,
            f"[{style}]{v.outcome}[/{style}]",
            ", ".join(v.caught_by) or "-",
            ", ".join(v.survived_in) or "-",
        )
    console.print(table)
    for m in mutants:
        if m.outcome != "killed" and m.reason:
            console.print(f"without {m.removed}, {m.experiment}: {m.reason}")
    survivors = [v for v in verdicts if v.outcome != "killed"]
    if survivors:
        console.print(
            f"[red]{len(survivors)} mitigation(s) not shown necessary: no experiment of "
            "their failure mode fails without them; fix the experiments.[/red]"
        )
    elif not mutants:
        console.print("no automatic mitigation to remove")
