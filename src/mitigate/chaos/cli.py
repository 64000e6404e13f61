"""``mitigate verify``: run every experiment of the given services and judge them.

Exit codes: 0 when every row is verified; 1 when a row failed or errored (or, with
``--mutate``, a mitigation no experiment of its failure mode shows necessary); 2 on bad
input; 3 when nothing failed but some failure modes are untested (no experiment names
them); 130 when interrupted (Ctrl-C), after writing the journal marked interrupted.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from mitigate.chaos.backend import EMBEDDED, parse_backend
from mitigate.chaos.experiment import ExperimentResult
from mitigate.chaos.mutate import MitigationVerdict, Mutant, mitigation_verdicts, mutation_check
from mitigate.chaos.runner import Runner, Suite, discover
from mitigate.clock import machine_clock
from mitigate.errors import ConfigError
from mitigate.report.html import render_html
from mitigate.report.journal import RunInfo, now_iso, write_journal
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
        bool,
        typer.Option(
            "--real-time",
            help="Run on the real clock instead of virtual time; a catalog that lists "
            "real_time rows runs those only (unless --only says otherwise).",
        ),
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
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="Run only the rows whose id matches this glob (content.fm.1.*); repeatable.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="The detailed table (times, loss, ...).")
    ] = False,
) -> None:
    """Inject each failure mode and verify it is detected, mitigated, and nothing is lost."""
    err = Console(stderr=True)
    console = Console(stderr=True) if as_json else Console()
    try:
        backend = parse_backend(backend)
        suites = select(discover([str(p) for p in paths or []]), only or [])
        if real_time and not only:
            suites = real_time_rows(suites)
    except ConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc

    info = RunInfo.here(seed=seed, backend=backend, clock="real" if real_time else "virtual")
    info.only = list(only or [])
    info.started_at = now_iso()
    began = machine_clock().now()
    results: list[ExperimentResult] = []
    mutants: list[Mutant] = []
    try:
        _run(suites, results, mutants, err, real_time=real_time, seed=seed, backend=backend,
             mutate=mutate)  # fmt: skip
    except (KeyboardInterrupt, asyncio.CancelledError):
        # asyncio.run turns Ctrl-C into KeyboardInterrupt, unless the signal lands while
        # the run's task is already being cancelled: then its CancelledError comes out.
        info.interrupted = True
    info.ended_at = now_iso()
    info.duration_s = machine_clock().now() - began

    verdicts = mitigation_verdicts(mutants)
    write_journal(out / "verify.json", results, mutants=mutants, backend=backend, info=info)
    (out / "report.html").parent.mkdir(parents=True, exist_ok=True)
    page = render_html(results, verdicts=verdicts, run=info.to_json())
    (out / "report.html").write_text(page, encoding="utf-8")
    if info.interrupted:
        err.print(
            f"[yellow]interrupted after {len(results)} row(s); partial journal: "
            f"{out / 'verify.json'}[/yellow]"
        )
        raise typer.Exit(130)

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
        print_results(results, console, verdicts, verbose=verbose)
        if mutate:
            _print_mutants(mutants, verdicts, console)
        console.print(f"journal: {out / 'verify.json'}")
        console.print(f"report: {out / 'report.html'}")
    raise typer.Exit(exit_code(results, verdicts))


def exit_code(results: list[ExperimentResult], verdicts: list[MitigationVerdict]) -> int:
    """0 all verified; 1 something failed (or a mitigation survived); 3 only untested."""
    # A mitigation is shown necessary when some experiment of its failure mode fails
    # without it; other experiments of that failure mode may test other mitigations.
    if any(r.verdict in ("failed", "error") for r in results):
        return 1
    if any(v.outcome != "killed" for v in verdicts):
        return 1
    if any(r.verdict == "untested" for r in results):
        return 3
    return 0


def real_time_rows(suites: list[Suite]) -> list[Suite]:
    """On the real clock, a catalog that marks ``real_time`` rows runs those only (its
    other rows wait out minutes of seed timeouts: they belong to virtual time)."""
    for suite in suites:
        if suite.real_time:
            marked = set(suite.real_time)
            suite.experiments = [e for e in suite.experiments if e.id in marked]
            suite.failure_modes = {k: v for k, v in suite.failure_modes.items() if k in marked}
            suite.principles = {k: v for k, v in suite.principles.items() if k in marked}
    return suites


def select(suites: list[Suite], patterns: list[str]) -> list[Suite]:
    """Keep the rows whose id matches one of ``patterns`` (globs); all when none given."""
    if not patterns:
        return suites

    def wanted(row_id: str) -> bool:
        return any(fnmatch.fnmatchcase(row_id, p) for p in patterns)

    kept = []
    for suite in suites:
        suite.experiments = [e for e in suite.experiments if wanted(e.id)]
        suite.failure_modes = {k: v for k, v in suite.failure_modes.items() if wanted(k)}
        suite.principles = {k: v for k, v in suite.principles.items() if wanted(k)}
        if suite.experiments or suite.failure_modes or suite.principles:
            kept.append(suite)
    if not kept:
        raise ConfigError(
            ", ".join(patterns),
            "no row matches --only",
            hint="row ids look like content.fm.1.7; globs work: 'content.retry.*'",
            code="MITIGATE.CONFIG.VERIFY",
        )
    return kept


def _run(
    suites: list[Suite],
    results: list[ExperimentResult],
    mutants: list[Mutant],
    err: Console,
    *,
    real_time: bool,
    seed: int,
    backend: str,
    mutate: bool,
) -> None:
    """Run every suite, then the mutation check; appends as it goes, so an interrupt
    leaves what finished in ``results`` and ``mutants``."""
    total = sum(
        len(s.experiments) + sum(not s.covers.get(f) for f in (*s.failure_modes, *s.principles))
        for s in suites
    )
    lines = not err.is_terminal  # no live bar in a log: one line per row instead
    done = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=lines,
    ) as progress:
        task = progress.add_task("verifying", total=total)

        def advance(result: ExperimentResult) -> None:
            nonlocal done
            if result.mutation is not None:
                return
            results.append(result)  # as it comes: an interrupt keeps what finished
            done += 1
            progress.update(task, advance=1, description=f"{result.service} {result.id}")
            if lines:
                took = result.elapsed_s or 0.0
                err.print(
                    f"[{done}/{total}] {result.id} {result.verdict} ({took:.1f}s)",
                    markup=False,
                    highlight=False,
                )

        runner = Runner(real_time=real_time, seed=seed, backend=backend, on_result=advance)
        baselines: list[tuple[Suite, list[ExperimentResult]]] = []
        for suite in suites:
            baselines.append((suite, runner.run_suite(suite)))
        if mutate:
            mutation_task = progress.add_task("mutating", total=None)
            for suite, baseline in baselines:

                def told(m: Mutant) -> None:
                    progress.update(
                        mutation_task, description=f"without {m.removed}: {m.experiment}"
                    )
                    if lines:
                        err.print(
                            f"without {m.removed}: {m.experiment} {m.outcome}",
                            markup=False,
                            highlight=False,
                        )

                mutants.extend(mutation_check(suite, baseline, runner, on_mutant=told))


def _print_mutants(
    mutants: list[Mutant], verdicts: list[MitigationVerdict], console: Console
) -> None:
    """One line per removed mitigation, under its failure mode; fits 80 columns."""
    console.print("[bold]mutation check: each mitigation removed in turn[/bold]")
    current = ""
    for v in verdicts:
        if v.failure_mode != current:
            current = v.failure_mode
            console.print(f"{v.service} {current}", highlight=False)
        style = {"killed": "green", "survived": "red", "error": "magenta"}[v.outcome]
        said = ""
        if v.caught_by:  # a survivor was caught by nothing
            more = f" +{len(v.caught_by) - 1}" if len(v.caught_by) > 1 else ""
            said = f" by {v.caught_by[0]}{more}"
        console.print(
            f"  without {v.removed} ({v.kind}): [{style}]{v.outcome}[/{style}]{said}",
            highlight=False,
        )
    survivors = [v for v in verdicts if v.outcome != "killed"]
    unshown = {(v.service, v.failure_mode, v.removed) for v in survivors}
    for m in mutants:
        if (m.service, m.failure_mode, m.removed) in unshown and m.reason:
            console.print(f"without {m.removed}, {m.experiment}: {escape(m.reason)}")
    if survivors:
        console.print(
            f"[red]{len(survivors)} mitigation(s) not shown necessary: no experiment of "
            "their failure mode fails without them; fix the experiments.[/red]"
        )
    elif not mutants:
        console.print("no automatic mitigation to remove")
