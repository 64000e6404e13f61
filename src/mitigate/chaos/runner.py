"""Find a service's experiments and run them, each in a fresh world.

A **suite** is one service folder: its ``catalog.yaml`` (optional) and its experiments
module, ``experiments.py`` or an ``experiments/`` package (every module in it). Python
experiments are found by their :func:`~mitigate.chaos.experiment` mark; catalog entries
without a Python experiment of the same id run declaratively (see
:mod:`mitigate.chaos.declarative`). Every failure mode of the catalog must be proven by
at least one experiment, or it is reported unverified; so must every principle (an
experiment lists it in ``principles``, or has its id).

Each experiment gets its own clock (virtual unless ``real_time``), recorder, fault
injector and freshly loaded catalog, so runs never leak into each other.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.machinery
import importlib.util
import random as _random
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from mitigate.chaos.backend import EMBEDDED, parse_backend
from mitigate.chaos.declarative import make_declarative
from mitigate.chaos.experiment import (
    ExperimentResult,
    ExperimentSpec,
    WorkloadFn,
    spec_of,
    workload_of,
)
from mitigate.chaos.injector import FaultInjector
from mitigate.chaos.observed import observed_detection
from mitigate.chaos.probes import ProbeFailedError
from mitigate.chaos.run import Run
from mitigate.chaos.timeline import Timeline
from mitigate.clock import (
    BACKEND_AUTOJUMP_THRESHOLD,
    Clock,
    RealClock,
    VirtualClock,
    machine_clock,
)
from mitigate.errors import ConfigError
from mitigate.observe.observers import Observer, Recorder
from mitigate.runscope import RunScope, run_scope
from mitigate.switches import Switches

__all__ = ["Runner", "Suite", "discover", "import_experiments", "load_suite", "service_package"]

CATALOG_NAMES = ("catalog.yaml", "catalog.yml")
CATALOG_SUFFIXES = (".yaml", ".yml")
DEFAULT_ROOTS = ("services", "examples")


@dataclass(slots=True)
class Suite:
    """One service: its catalog, its experiments and its workload."""

    service: str
    root: Path
    catalog_path: Path | None = None
    experiments: list[ExperimentSpec] = field(default_factory=list)
    failure_modes: dict[str, str] = field(default_factory=dict)  # id -> title
    principles: dict[str, str] = field(default_factory=dict)  # id -> title
    # Keyed by failure mode or principle id: both are rows proven the same way.
    covers: dict[str, list[str]] = field(default_factory=dict)  # row -> experiment ids
    mitigations: dict[str, list[str]] = field(default_factory=dict)  # row -> targets
    switches: dict[str, list[str]] = field(default_factory=dict)  # row -> switch ids
    # Table rows (content.breaker.1) with an experiment of their own id: the policy that
    # carries the row, and the switches the row names (what --mutate removes for it).
    row_mitigations: dict[str, list[str]] = field(default_factory=dict)
    row_switches: dict[str, list[str]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # experiment id -> why it cannot run
    workload: WorkloadFn | None = None
    source: str = ""  # the catalog's source document (a seed)
    real_time: list[str] = field(default_factory=list)  # rows that also run on the real clock
    sources: dict[str, str] = field(default_factory=dict)  # failure mode -> its seed line
    row_ids: set[str] = field(default_factory=set)  # every experiment id, before --only


def _bad_input(message: str, hint: str = "") -> ConfigError:
    return ConfigError(None, message, hint=hint or None, code="MITIGATE.CONFIG.VERIFY")


def discover(paths: Sequence[str | Path] = (), *, cwd: Path | None = None) -> list[Suite]:
    """The suites under ``paths``: service folders, catalog files (any name ending in
    ``.yaml`` or ``.yml``) or experiment modules; by default every service in
    ``services/`` and ``examples/``. Bad input raises :class:`~mitigate.ConfigError`
    (``MITIGATE.CONFIG.VERIFY``)."""
    base = cwd or Path.cwd()
    found: list[tuple[Path, Path | None]] = []  # (service folder, catalog file)
    if not paths:
        for name in DEFAULT_ROOTS:
            root = base / name
            if root.is_dir():
                found.extend((p, None) for p in sorted(root.iterdir()) if _is_service(p))
        if not found:
            raise _bad_input(
                f"no service found in {', '.join(DEFAULT_ROOTS)}/ under {base}",
                "pass a service folder or a catalog file",
            )
    for raw in paths:
        path = Path(raw)
        if not path.is_absolute():
            path = base / path
        if not path.exists():
            raise _bad_input(f"{raw}: no such file or folder")
        if path.is_file():
            if path.suffix in CATALOG_SUFFIXES:
                found.append((path.parent, path))
            elif path.name == "experiments.py":
                found.append((path.parent, None))
            else:
                raise _bad_input(f"{raw}: not a catalog.yaml (or other .yaml) or experiments.py")
        elif _is_service(path):
            found.append((path, None))
        else:
            services = sorted(p for p in path.iterdir() if _is_service(p))
            if not services:
                raise _bad_input(f"{raw}: no catalog.yaml or experiments module here")
            found.extend((p, None) for p in services)
    unique: dict[tuple[Path, Path | None], tuple[Path, Path | None]] = {}
    for folder, catalog in found:
        catalog = catalog or _default_catalog(folder)
        key = (folder.resolve(), catalog.resolve() if catalog is not None else None)
        unique.setdefault(key, (folder, catalog))
    return [load_suite(folder, catalog) for folder, catalog in unique.values()]


def _default_catalog(folder: Path) -> Path | None:
    return next((folder / n for n in CATALOG_NAMES if (folder / n).is_file()), None)


def _is_service(path: Path) -> bool:
    if not path.is_dir():
        return False
    return _default_catalog(path) is not None or _has_experiments(path)


def _has_experiments(folder: Path) -> bool:
    return (folder / "experiments.py").is_file() or (folder / "experiments").is_dir()


# -- importing a service's experiments -------------------------------------------------
# Each service folder is imported as its own package, so two services that both have a
# ``domain.py`` never meet in sys.modules, and experiments may use relative imports.


def import_experiments(folder: Path) -> list[ModuleType]:
    """The experiment modules of the service in ``folder``: ``experiments.py``, or the
    ``experiments/`` package and every module in it, imported under the service's own
    package (see :func:`service_package`)."""
    if not _has_experiments(folder):
        return []
    package = service_package(folder)
    modules = [_import_module(f"{package}.experiments", folder / "experiments")]
    single = folder / "experiments.py"
    if single.is_file():
        return modules
    for path in sorted((folder / "experiments").glob("*.py")):
        if path.name == "__init__.py":
            continue
        if path.stem.isidentifier():
            modules.append(_import_module(f"{package}.experiments.{path.stem}", path))
        else:  # a module named by its row id (content.fm.1.1.py) cannot be imported by name
            modules.append(_import_file(f"{package}.experiments.{_identifier(path.stem)}", path))
    return modules


def service_package(folder: Path) -> str:
    """The package the service in ``folder`` is imported as: its own dotted name when
    the folder is a package reachable from ``sys.path`` (``services.content``), else a
    synthetic package unique to the folder (so relative imports still work)."""
    name = _importable_name(folder)
    if name is not None:
        _import_module(name, folder)
        return name
    return _synthetic_package(folder)


def _importable_name(folder: Path) -> str | None:
    parts: list[str] = []
    top = folder.resolve()
    while (top / "__init__.py").is_file() and top.name.isidentifier():
        parts.append(top.name)
        top = top.parent
    if not parts:
        return None
    head = parts[-1]
    try:
        spec = importlib.util.find_spec(head)
    except (ImportError, ValueError):
        return None
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations or not any(Path(p).resolve() == top / head for p in locations):
        return None  # another package of that name comes first on sys.path
    return ".".join(reversed(parts))


def _synthetic_package(folder: Path) -> str:
    where = folder.resolve()
    digest = hashlib.sha256(str(where).encode()).hexdigest()[:12]
    name = f"_mitigate_service_{_identifier(where.name)}_{digest}"
    if name in sys.modules:
        return name
    init = where / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(
            name, init, submodule_search_locations=[str(where)]
        )
    else:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(where)]
    if spec is None:
        raise _bad_input(f"{where}: cannot be imported as a package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if spec.loader is not None:
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise _import_failed(init, exc) from exc
    return name


def _import_module(name: str, path: Path) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise _import_failed(path, exc) from exc


def _import_file(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise _bad_input(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise _import_failed(path, exc) from exc
    return module


def _import_failed(path: Path, exc: Exception) -> ConfigError:
    return _bad_input(
        f"{path}: importing failed: {type(exc).__name__}: {exc}",
        "inside a service folder, import its own modules relatively (from .domain import ...)",
    )


def _identifier(text: str) -> str:
    name = re.sub(r"\W", "_", text)
    return name if name.isidentifier() else f"_{name}"


def load_catalog_model(path: Path) -> Any:
    """The validated catalog model of ``path`` (bad catalogs are bad input)."""
    catalog_cls = _catalog_class()
    try:
        return catalog_cls.load(path).model
    except ConfigError:
        raise
    except Exception as exc:
        raise _bad_input(f"{path}: {exc}") from exc


def _catalog_class() -> Any:
    from mitigate.catalog.load import Catalog

    return Catalog


def load_suite(folder: Path, catalog_path: Path | None = None) -> Suite:
    """Read one service folder into a :class:`Suite`; ``catalog_path`` defaults to the
    folder's ``catalog.yaml``."""
    catalog_path = catalog_path or _default_catalog(folder)
    model = load_catalog_model(catalog_path) if catalog_path is not None else None
    service = model.service if model is not None else folder.name
    suite = Suite(service=service, root=folder, catalog_path=catalog_path)
    python: dict[str, ExperimentSpec] = {}
    for module in import_experiments(folder):
        for value in vars(module).values():
            spec = spec_of(value)
            if spec is not None:
                python[spec.id] = spec
            elif callable(value) and workload_of(value):
                suite.workload = value
    entries = {e.id: e for e in model.experiments} if model is not None else {}
    principle_ids = {p.id for p in model.principles if p.id} if model is not None else set()

    def proves(spec_id: str, named: Iterable[str]) -> tuple[str, ...]:
        # An experiment whose id is a principle's id proves that principle.
        out = list(dict.fromkeys(named))
        return tuple([*out, spec_id] if spec_id in principle_ids and spec_id not in out else out)

    for entry_id, entry in entries.items():
        declared = tuple(entry.failure_modes)
        if entry_id in python:
            spec = python.pop(entry_id)
            suite.experiments.append(
                ExperimentSpec(
                    spec.id,
                    spec.title or entry.title,
                    spec.failure_modes or declared,
                    spec.fault or _describe_entry(entry),
                    spec.fn,
                    proves(spec.id, spec.principles or entry.principles),
                )
            )
            continue
        try:
            fn = make_declarative(entry, service, suite.workload)
        except ValueError as exc:
            suite.problems[entry_id] = str(exc)
            fn = None
        suite.experiments.append(
            ExperimentSpec(
                entry_id,
                entry.title,
                declared,
                _describe_entry(entry),
                fn,
                proves(entry_id, entry.principles),
            )
        )
    for spec in python.values():
        named = proves(spec.id, spec.principles)
        if named != spec.principles:
            spec = ExperimentSpec(
                spec.id, spec.title, spec.failure_modes, spec.fault, spec.fn, named
            )
        suite.experiments.append(spec)
    suite.row_ids = {spec.id for spec in suite.experiments}
    if model is not None:
        suite.source = model.source or ""
        suite.real_time = list(model.real_time)
        for fm in model.failure_modes:
            suite.failure_modes[fm.id] = fm.title
            if fm.source:
                suite.sources[fm.id] = fm.source
            suite.mitigations[fm.id] = _targets(model, fm.mitigated_by)
            switch_ids = {sw.id for sw in model.switches}
            suite.switches[fm.id] = [n for n in fm.mitigated_by if n in switch_ids]
            for exp_id in fm.experiments:
                suite.covers.setdefault(fm.id, []).append(exp_id)
        switch_ids = {sw.id for sw in model.switches}
        for principle in model.principles:
            if principle.id is None:
                continue  # nothing can name it, so nothing can prove it
            suite.principles[principle.id] = principle.title
            if principle.source:
                suite.sources[principle.id] = principle.source
            suite.mitigations[principle.id] = _targets(model, principle.mitigated_by)
            suite.switches[principle.id] = [n for n in principle.mitigated_by if n in switch_ids]
            for exp_id in principle.experiments:
                suite.covers.setdefault(principle.id, []).append(exp_id)
        _table_rows(model, suite)
    for spec in suite.experiments:
        for row_id in (*spec.failure_modes, *spec.principles):
            ids = suite.covers.setdefault(row_id, [])
            if spec.id not in ids:
                ids.append(spec.id)
    return suite


def _describe_entry(entry: Any) -> str:
    parts = [entry.fault]
    if entry.target:
        parts.append(f"on {entry.target}")
    if entry.peer:
        parts.append(f"| {entry.peer}")
    if entry.rate is not None:
        parts.append(f"{entry.rate:.0%}")
    if entry.duration is not None:
        parts.append(f"for {entry.duration}")
    return " ".join(str(p) for p in parts)


def _table_rows(model: Any, suite: Suite) -> None:
    """The retry, breaker and fallback rows that have an experiment of their own id."""
    own = {spec.id for spec in suite.experiments}
    for target, policy in model.policies.items():
        for part in (policy.retry, policy.breaker):
            if part is not None and part.id in own:
                suite.row_mitigations[part.id] = [target]
                suite.row_switches[part.id] = list(getattr(part, "switches", None) or [])
    for fallback in model.fallbacks:
        if fallback.id in own and fallback.policy:
            suite.row_mitigations[fallback.id] = [fallback.policy]


def _targets(model: Any, names: Iterable[str]) -> list[str]:
    # mitigated_by lists policy targets, or fallback ids whose ``policy`` names a target.
    fallbacks = {f.id: f.policy for f in model.fallbacks}
    out: list[str] = []
    for name in names:
        target = name if name in model.policies else fallbacks.get(name)
        if target and target not in out:
            out.append(target)
    return out


class Runner:
    """Runs experiments: ``run_suite(suite)`` gives one result per experiment plus one
    per failure mode no experiment covers.

    ``real_time`` runs on the :class:`~mitigate.RealClock`; ``seed`` feeds every fault's
    random draws; ``backend`` (``"embedded"`` or e.g. ``"postgres+nats+redis"``) becomes
    every run's ``run.backend``; ``on_result`` is told about each result as it comes
    (progress bars).
    """

    def __init__(
        self,
        *,
        real_time: bool = False,
        seed: int = 0,
        backend: str = EMBEDDED,
        on_result: Callable[[ExperimentResult], None] | None = None,
    ) -> None:
        self.backend = parse_backend(backend)
        self.real_time = real_time
        self.seed = seed
        self.on_result = on_result

    def run_suite(self, suite: Suite) -> list[ExperimentResult]:
        results = [self.run_one(suite, spec) for spec in suite.experiments]
        verified = {r.id for r in results if r.verdict == "verified"}
        for fm_id, title in suite.failure_modes.items():
            if not suite.covers.get(fm_id):
                self._untested(suite, results, fm_id, title, "failure_mode")
        for principle_id, title in suite.principles.items():
            if not suite.covers.get(principle_id):
                self._untested(suite, results, principle_id, title, "principle")
        for result in results:
            missing = [i for i in suite.covers.get(result.id, []) if i not in verified]
            if missing and result.reason == "":
                result.reason = f"unproven: {', '.join(missing)}"
        return results

    def _untested(
        self,
        suite: Suite,
        results: list[ExperimentResult],
        row_id: str,
        title: str,
        kind: Literal["failure_mode", "principle"],
    ) -> None:
        what = "failure mode" if kind == "failure_mode" else "principle"
        result = ExperimentResult(
            service=suite.service,
            id=row_id,
            title=title,
            kind=kind,
            verdict="untested",
            failure_modes=(row_id,) if kind == "failure_mode" else (),
            principles=(row_id,) if kind == "principle" else (),
            reason=f"no experiment names this {what}",
            source=suite.sources.get(row_id, suite.source),
        )
        results.append(result)
        self._tell(result)

    def _tell(self, result: ExperimentResult) -> None:
        if self.on_result is not None:
            self.on_result(result)

    def run_one(
        self,
        suite: Suite,
        spec: ExperimentSpec,
        *,
        passthrough: frozenset[str] = frozenset(),
        switches_off: frozenset[str] = frozenset(),
    ) -> ExperimentResult:
        """Run one experiment; with ``passthrough``, those targets' policies are replaced
        by pass-through pipelines, and ``switches_off`` turns those switches off in
        ``run.switches`` (the mutation check)."""
        began = machine_clock().now()
        result = asyncio.run(
            self.arun_one(suite, spec, passthrough=passthrough, switches_off=switches_off)
        )
        result.elapsed_s = machine_clock().now() - began
        self._tell(result)
        return result

    def _virtual_clock(self) -> VirtualClock:
        # Real servers answer over sockets: time may jump only once the loop has been
        # idle for a while in real time, or it would pass their replies in flight.
        threshold = 0.0 if self.backend == EMBEDDED else BACKEND_AUTOJUMP_THRESHOLD
        return VirtualClock(autojump=True, autojump_threshold=threshold)

    async def arun_one(
        self,
        suite: Suite,
        spec: ExperimentSpec,
        *,
        passthrough: frozenset[str] = frozenset(),
        switches_off: frozenset[str] = frozenset(),
    ) -> ExperimentResult:
        clock: Clock = RealClock() if self.real_time else self._virtual_clock()
        result = ExperimentResult(
            service=suite.service,
            id=spec.id,
            title=spec.title,
            kind=spec.kind,
            verdict="error",
            failure_modes=spec.failure_modes,
            principles=spec.principles,
            fault=spec.fault,
            clock="real" if self.real_time else "virtual",
            mutation=", ".join(sorted(passthrough | switches_off)) or None,
            backend=self.backend,
        )
        if spec.fn is None:
            result.reason = suite.problems.get(spec.id, "no way to run this experiment")
            return result
        recorder = Recorder()
        timeline = Timeline(start=clock.now())
        injector = FaultInjector(
            clock=clock, random=_random.Random(self.seed).random, party=suite.service
        )
        observers: list[Observer] = [recorder, timeline.observe]
        scope = RunScope(
            clock=clock,
            virtual=not self.real_time,
            injector=injector,
            observers=tuple(observers),
            passthrough=passthrough,
            label=spec.id,
        )
        # Everything the experiment builds, however it looks its policies up, joins the
        # run: its clock, its injector, its observers (mitigate.runscope).
        with run_scope(scope):
            catalog = None
            if suite.catalog_path is not None:
                catalog = _catalog_class().load(
                    suite.catalog_path, clock=clock, observers=observers
                )
            policy = _PolicySource(catalog, clock, observers, injector, passthrough)
            run = Run(
                spec,
                clock=clock,
                policy=policy,
                injector=injector,
                recorder=recorder,
                timeline=timeline,
                catalog=catalog,
                entry=_entry(catalog, spec.id),
                service=suite.service,
                switches=Switches(disabled=switches_off),
                backend=self.backend,
            )
            run.pipelines = policy.built
            result.source = _source_of(catalog, spec.id)
            try:
                await spec.fn(run)
                failed = [c for c in run.checks if not c.passed]
                own_rows = suite.row_ids | {s.id for s in suite.experiments}
                rows = (*spec.failure_modes, *spec.principles)
                seen = observed_detection(run, spec.id, rows, own_rows)
                result.detected_by = seen.rules
                if not run.checks:
                    result.reason = "the experiment checked nothing, so it could not fail"
                elif failed:
                    result.verdict = "failed"
                    result.reason = "; ".join(
                        f"{c.name}: {c.detail}" if c.detail else c.name for c in failed
                    )
                elif seen.missing:
                    result.verdict = "failed"
                    result.reason = "detection never observed: " + "; ".join(seen.missing)
                else:
                    result.verdict = "verified"
            except (ProbeFailedError, AssertionError) as exc:
                result.verdict = "failed"
                result.reason = str(exc) or type(exc).__name__
            except Exception as exc:
                result.reason = f"{type(exc).__name__}: {exc}"
                result.traceback = traceback.format_exc()
            finally:
                errors = await run.run_rollbacks()
                timeline.end = clock.now()
                result.rollbacks = run.rollbacks_run
                for target, pipeline in scope.built.items():
                    run.pipelines.setdefault(target, pipeline)
                _fill(result, run)
        if errors:
            result.verdict = "error"
            result.reason = (result.reason + "; " if result.reason else "") + (
                "rollback failed: " + "; ".join(f"{type(e).__name__}: {e}" for e in errors)
            )
        return result


def _fill(result: ExperimentResult, run: Run) -> None:
    result.checks = list(run.checks)
    result.timeline = run.timeline
    result.detected_s = run.detection_delay()
    result.recovered_s = run.recovered_s
    result.mitigated_by = run.mitigated_by()
    result.pipelines = sorted(run.pipelines)
    result.switches = sorted(run.switches.consulted)
    if run.ledger.used:
        result.lost = run.ledger.lost
        result.duplicated = run.ledger.duplicated


def _source_of(catalog: Any, row_id: str) -> str:
    """The seed line a row came from: its entry's ``source``, else the catalog's."""
    if catalog is None:
        return ""
    model = catalog.model
    entries = [*model.failure_modes, *model.experiments, *model.fallbacks, *model.principles]
    for entry in entries:
        if getattr(entry, "id", None) == row_id and getattr(entry, "source", None):
            return str(entry.source)
    return str(model.source or "")


def _entry(catalog: Any, experiment_id: str) -> Any:
    if catalog is None:
        return None
    return next((e for e in catalog.model.experiments if e.id == experiment_id), None)


class _PolicySource:
    """``run.policy(name)``: the catalog's pipeline with the run's injector attached, or a
    pass-through pipeline (only the injection point) for a mutated target."""

    def __init__(
        self,
        catalog: Any,
        clock: Clock,
        observers: list[Any],
        injector: FaultInjector,
        passthrough: frozenset[str],
    ) -> None:
        self.catalog = catalog
        self.clock = clock
        self.observers = observers
        self.injector = injector
        self.passthrough = passthrough
        self.built: dict[str, Any] = {}

    def __call__(self, name: str, *strategies: Any) -> Any:
        if name in self.built:
            return self.built[name]
        from mitigate.policy.pipeline import Pipeline

        if name in self.passthrough:
            pipeline = Pipeline(
                name, clock=self.clock, observers=self.observers, injector=self.injector
            )
        elif strategies or self.catalog is None:
            pipeline = Pipeline(
                name,
                *strategies,
                clock=self.clock,
                observers=self.observers,
                injector=self.injector,
            )
        else:
            pipeline = self.catalog.policy(name)
            pipeline.attach(self.injector)
        self.built[name] = pipeline
        return pipeline
