"""``mitigate catalog ...``: import, render, lint, alerts, schema, show.

Exit codes: 0 ok, 1 findings (lint: errors, and warnings too with ``--strict``; import
with ``--strict``), 2 bad input (a file that cannot be read or is not a valid catalog).
Nothing is written when the input is bad.
``--json`` prints one JSON document on stdout for machines.

.. versionadded:: 0.1
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from mitigate.catalog.alert_tests import alert_tests
from mitigate.catalog.alerts import alert_rules
from mitigate.catalog.check import check_references
from mitigate.catalog.findings import CatalogError, Finding
from mitigate.catalog.lint import CODES, lint_file
from mitigate.catalog.model import CatalogModel
from mitigate.catalog.source import read_catalog
from mitigate.errors import ConfigError
from mitigate.files import write_text_atomic

__all__ = ["catalog_app"]

OK, FINDINGS, BAD_INPUT = 0, 1, 2

catalog_app = typer.Typer(
    name="catalog",
    help="Failure-mode catalogs: import a FAILURE_MODES.md, render it back, lint, "
    "export alert rules and the JSON Schema.",
    no_args_is_help=True,
    add_completion=False,
)

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
OutFile = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
]


def _echo_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _write(path: Path | None, text: str) -> None:
    """Write ``text`` to ``path`` (atomically: a reader never sees half a file), or stdout."""
    if path is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    write_text_atomic(path, text if text.endswith("\n") else text + "\n")


def _bad_input(findings: list[Finding], as_json: bool, path: str) -> typer.Exit:
    if as_json:
        _echo_json({"file": path, "ok": False, "findings": [f.to_dict() for f in findings]})
    else:
        _err.print(f"[bold red]invalid catalog[/] {path}: {len(findings)} problem(s)")
        for finding in findings:
            _err.print(f"  {finding}", markup=False)
    return typer.Exit(BAD_INPUT)


def _load_model(path: Path, as_json: bool) -> CatalogModel:
    """A valid model (schema and references) or exit 2 with every problem listed."""
    try:
        doc, model, findings = read_catalog(path)
    except CatalogError as exc:
        raise _bad_input(exc.findings, as_json, str(path)) from None
    if model is not None:
        findings += check_references(model, doc)
    errors = [f for f in findings if f.level == "error"]
    if errors or model is None:
        raise _bad_input(errors, as_json, str(path))
    return model


# --------------------------------------------------------------------------- schema


@catalog_app.command()
def schema(out: OutFile = None) -> None:
    """Print the catalog's JSON Schema (for editors and CI validation)."""
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mitigate.dev/schema/catalog-1.json",
        **CatalogModel.model_json_schema(),
    }
    _write(out, json.dumps(document, indent=2, ensure_ascii=False))


# --------------------------------------------------------------------------- lint


@catalog_app.command()
def lint(
    catalogs: Annotated[list[Path], typer.Argument(help="Catalog files (YAML).")],
    as_json: JsonFlag = False,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="Leave out findings with this code (repeatable)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 on warnings (gaps) too, not only errors.")
    ] = False,
) -> None:
    """Report problems and gaps: exit 0 when there is no error (gaps are warnings: they
    are listed, and fail only with --strict), 1 on errors, 2 unreadable file (or one
    holding a value beyond the loader's limits)."""
    unknown = sorted(set(ignore or ()) - set(CODES))
    if unknown:
        _err.print(f"unknown code(s) for --ignore: {', '.join(unknown)}; known: {', '.join(CODES)}")
        raise typer.Exit(BAD_INPUT)
    report: list[dict[str, Any]] = []
    worst = OK
    for path in catalogs:
        findings = lint_file(path, ignore=ignore or ())
        unreadable = any(f.code in ("io", "yaml", "too-large") for f in findings)
        failing = [f for f in findings if strict or f.level == "error"]
        worst = max(worst, BAD_INPUT if unreadable else FINDINGS if failing else OK)
        report.append({"file": str(path), "findings": [f.to_dict() for f in findings]})
        if not as_json:
            _print_findings(str(path), findings)
    if as_json:
        _echo_json({"ok": worst == OK, "files": report})
    raise typer.Exit(worst)


def _print_findings(path: str, findings: list[Finding]) -> None:
    if not findings:
        _out.print(f"[green]ok[/] {path}")
        return
    for finding in findings:
        colour = "red" if finding.level == "error" else "yellow"
        field = f"{finding.field}: " if finding.field else ""
        _out.print(
            f"{finding.where}: [{colour}]{finding.level}[/] [bold]{finding.code}[/]: "
            f"{_escape(field + finding.message)}"
        )
    errors = sum(1 for f in findings if f.level == "error")
    _out.print(f"{path}: {errors} error(s), {len(findings) - errors} warning(s)")


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


# --------------------------------------------------------------------------- alerts


@catalog_app.command()
def alerts(
    catalog: Annotated[Path, typer.Argument(help="Catalog file (YAML).")],
    out: OutFile = None,
    tests: Annotated[
        Path | None,
        typer.Option("--tests", help="Also write `promtool test rules` fixtures (needs -o)."),
    ] = None,
    runbook_base: Annotated[
        str | None,
        typer.Option("--runbook-base", help="URL put before runbook paths (runbook_url)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print Prometheus alerting rules for the catalog's detection rules."""
    if tests is not None and out is None:
        _err.print("--tests needs -o: the fixtures name the rule file they test")
        raise typer.Exit(BAD_INPUT)
    model = _load_model(catalog, as_json)
    rules = alert_rules(model, runbook_base=runbook_base)
    if as_json:
        _echo_json(rules.to_dict())
        return
    _write(out, rules.to_yaml())
    for rule_id, reason in rules.skipped:
        _err.print(f"skipped {rule_id}: {reason}", markup=False)
    if tests is not None and out is not None:
        rule_file = os.path.relpath(out.resolve(), tests.resolve().parent)
        fixtures = alert_tests(model, rules, rule_file)
        _write(tests, fixtures.to_yaml())
        for case, reason in fixtures.skipped:
            _err.print(f"no fixture for {case}: {reason}", markup=False)
        _err.print(f"wrote {fixtures.cases} promtool test cases to {tests}", markup=False)


# --------------------------------------------------------------------------- show


@catalog_app.command()
def show(
    catalog: Annotated[Path, typer.Argument(help="Catalog file (YAML).")],
    as_json: JsonFlag = False,
) -> None:
    """Summarise a catalog: policies, failure modes and how each is covered."""
    model = _load_model(catalog, as_json)
    if as_json:
        _echo_json(model.model_dump(mode="json", exclude_none=True, exclude_defaults=True))
        return
    title = model.title or model.service
    _out.print(f"[bold]{_escape(title)}[/] ({model.service})")
    policies = Table(title="Policies")
    # ids are never cut (min_width counts the cell padding); prose columns wrap
    policies.add_column(
        "target", no_wrap=True, min_width=max(map(len, model.policies), default=6) + 2
    )
    for name in ("retry", "breaker", "timeout", "fallback"):
        policies.add_column(name, overflow="fold")
    for target, spec in sorted(model.policies.items()):
        retry = ""
        if spec.retry is not None:
            r = spec.retry
            retry = (
                f"max {r.max}; {r.backoff}"
                if r.backoff is not None
                else f"max {r.retries}; {r.schedule or f'exp {r.base}–{r.cap}'}"
            )
            if r.budget is not None:
                retry += f"; budget {r.budget}"
        breaker = ""
        if spec.breaker is not None:
            b = spec.breaker
            breaker = b.trip or f"{b.failures} / {b.window}"
            if b.reset is not None:
                breaker += f"; reset {b.reset}"
        policies.add_row(
            target, retry, breaker, str(spec.timeout or ""), spec.fallback or "", end_section=False
        )
    _out.print(policies)
    modes = Table(title="Failure modes")
    widest = max((len(m.id) for m in model.failure_modes), default=2)
    modes.add_column("id", no_wrap=True, min_width=widest + 2)
    for name in ("title", "detect", "mitigate", "runbook", "experiments"):
        modes.add_column(name, overflow="fold")
    exercised: dict[str, list[str]] = {}
    for experiment in model.experiments:
        for mode_id in experiment.failure_modes:
            exercised.setdefault(mode_id, []).append(experiment.id)
    for mode in model.failure_modes:
        experiments = sorted({*mode.experiments, *exercised.get(mode.id, [])})
        modes.add_row(
            mode.id,
            mode.title,
            _mark(bool(mode.detection_rules)),
            _mark(bool(mode.mitigated_by)),
            _mark(bool(mode.runbook)),
            ", ".join(experiments) or _mark(False),
        )
    _out.print(modes)
    _out.print(
        f"{len(model.detection_rules)} detection rules, {len(model.fallbacks)} fallbacks, "
        f"{len(model.experiments)} experiments, {len(model.runbooks)} runbooks"
    )


def _mark(ok: bool) -> str:
    return "[green]yes[/]" if ok else "[red]no[/]"


# --------------------------------------------------------------------------- import / render


def _read_document(document: str) -> str:
    """The document's text, from a file or ("-") standard input; exit 2 when it is not
    UTF-8 text (a binary file, a Latin-1 export) rather than guess."""
    name = "standard input" if document == "-" else document
    try:
        data = sys.stdin.buffer.read() if document == "-" else Path(document).read_bytes()
    except OSError as exc:
        _err.print(f"cannot read {name}: {exc.strerror or exc}", markup=False)
        raise typer.Exit(BAD_INPUT) from None
    nul = data.find(b"\x00")
    if nul >= 0:
        _err.print(
            f"cannot import {name}: it is a binary file (a NUL byte at offset {nul}); "
            "give a markdown document",
            markup=False,
        )
        raise typer.Exit(BAD_INPUT)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        _err.print(
            f"cannot import {name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); save the document as UTF-8 and try again",
            markup=False,
        )
        raise typer.Exit(BAD_INPUT) from None


@catalog_app.command("import")
def import_(
    document: Annotated[
        str, typer.Argument(help="A FAILURE_MODES markdown document, or - for standard input.")
    ],
    out: OutFile = None,
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            help="Catalog name (prefixes every id); by default from the title or file name.",
        ),
    ] = None,
    as_json: JsonFlag = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Exit 1 when some lines could not be mapped, 2 when no failure mode was found.",
        ),
    ] = False,
) -> None:
    """Draft a catalog from a FAILURE_MODES document; lists what it could not map.

    Exit 1 when the document yields no failure mode (2 with --strict: nothing is written)."""
    from mitigate.catalog.markdown import import_markdown

    name = "<stdin>" if document == "-" else document
    text = _read_document(document)
    source = None if document == "-" else Path(document).name
    try:
        result = import_markdown(text, service=service, source=source)
    except ConfigError as exc:  # e.g. no service name found and none given
        _err.print(str(exc), markup=False)
        raise typer.Exit(BAD_INPUT) from None
    catalog = result.catalog
    empty = not catalog.failure_modes
    if empty and strict:
        _print_unmapped(name, result.unmapped)
        _err.print(
            f"error: no failure mode found in {name}; nothing written. A failure mode is a "
            "heading (or table row) with fields such as Trigger, Detection, Mitigation",
            markup=False,
        )
        raise typer.Exit(BAD_INPUT)
    if as_json:
        _echo_json(result.to_json())
    else:
        data = catalog.model_dump(mode="json", exclude_none=True)
        _write(out, yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
        _print_unmapped(name, result.unmapped)
        if out is not None:
            _out.print(
                f"wrote {len(catalog.failure_modes)} failure modes, {len(catalog.policies)} "
                f"policies, {len(result.unmapped)} unmapped lines to {out}",
                markup=False,
            )
    if empty:
        _err.print(
            f"warning: no failure mode found in {name}: the draft is empty. A failure mode is "
            "a heading (or table row) with fields such as Trigger, Detection, Mitigation; "
            "the lines above could not be mapped",
            markup=False,
        )
        raise typer.Exit(FINDINGS)
    if strict and result.unmapped:
        raise typer.Exit(FINDINGS)


def _print_unmapped(name: str, unmapped: list[Any]) -> None:
    for item in unmapped:
        _err.print(f"{name}:{item.line}: not mapped: {item.text}", markup=False)


@catalog_app.command()
def render(
    catalog: Annotated[Path, typer.Argument(help="Catalog file (YAML).")],
    out: OutFile = None,
    runbooks: Annotated[
        Path | None, typer.Option("--runbooks", help="Also write the runbook index here.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Render the catalog as a FAILURE_MODES.md (and, with --runbooks, a runbook index)."""
    from mitigate.catalog.markdown import render_markdown, render_runbook_index

    model = _load_model(catalog, as_json)
    document = render_markdown(model)
    index = render_runbook_index(model)
    if as_json:
        _echo_json({"failure_modes_md": document, "runbook_index_md": index})
        return
    _write(out, document)
    if runbooks is not None:
        _write(runbooks, index)
