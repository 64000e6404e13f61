"""A loaded catalog: its model, the pipelines built from it, and its detection rules.

``Catalog.load(path)`` validates the whole file (schema, references, every policy's
notation) and refuses it with every problem listed by file and line; a catalog that
loads never fails on a first call. ``catalog.policy(name)`` builds the pipeline for a
target once and caches it; every pipeline reports to the catalog's observers, and the
catalog's detection rules watch that event stream and raise :class:`AlertRaised`.

>>> from mitigate.clock import VirtualClock
>>> from mitigate.observe.observers import Recorder
>>> catalog = Catalog.from_text('''
... service: demo
... policies:
...   kms.sign:
...     retry: {max: 3, backoff: "50ms, 200ms, 500ms", budget: 1s}
... ''', clock=VirtualClock())
>>> sign = catalog.policy("kms.sign")
>>> sign is catalog.policy("kms.sign")
True
>>> catalog.policy("kms.sing")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mitigate.ConfigError: [MITIGATE.CONFIG.UNKNOWN_POLICY] kms.sing: ...; did you mean 'kms.sign'?

.. versionadded:: 0.1
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, TypeVar

from mitigate.catalog.build import (
    FallbackHandler,
    build_budget_rule,
    build_rule,
    build_strategies,
)
from mitigate.catalog.check import Locator, check_references
from mitigate.catalog.findings import CatalogError, Finding
from mitigate.catalog.model import CatalogModel, Experiment, FailureMode
from mitigate.catalog.source import SourceDoc, read_catalog, read_yaml, validate
from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError
from mitigate.observe.detection import Detector, Rule
from mitigate.observe.observers import Observer, Observers
from mitigate.policy.pipeline import Pipeline
from mitigate.runscope import current_scope

__all__ = ["Catalog"]


class Catalog:
    """One service's catalog, ready to build policies.

    Build it with :meth:`load` (a file), :meth:`from_text` or from a model.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        model: CatalogModel,
        *,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        path: str | None = None,
        _doc: SourceDoc | None = None,
    ) -> None:
        self.model = model
        self.path = path
        # Loaded inside an experiment run: the run's clock and observers, unless given.
        scope = current_scope()
        if scope is not None:
            clock = scope.lend_clock(f"catalog {model.service}", clock)
            given = list(observers)
            observers = [*given, *scope.missing_observers(given)]
        self.clock = clock if clock is not None else default_clock()
        _refuse(_problems(model, _doc), path)
        self._lock = threading.Lock()
        self._pipelines: dict[str, Pipeline] = {}
        self._handlers: dict[str, FallbackHandler] = {}
        # What the user attached; alerts from the detector go here too.
        self._observers = Observers(observers)
        self.detector = Detector(
            self._rules(), clock=self.clock, observers=[self._observers.emit], source=model.service
        )

    # ------------------------------------------------------------------ building

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
    ) -> Catalog:
        """Read and validate the catalog at ``path``; raises CatalogError with every
        problem (file, line, field) when it is invalid."""
        doc, model, findings = read_catalog(path)
        _refuse(findings, str(path))
        assert model is not None
        return cls(model, clock=clock, observers=observers, path=str(path), _doc=doc)

    @classmethod
    def from_text(
        cls,
        text: str,
        *,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        path: str = "<catalog>",
    ) -> Catalog:
        """Like :meth:`load`, from YAML text."""
        doc = read_yaml(text, path)
        model, findings = validate(doc)
        _refuse(findings, path)
        assert model is not None
        return cls(model, clock=clock, observers=observers, path=path, _doc=doc)

    def _rules(self) -> list[Rule]:
        runbooks: dict[str, str] = {}
        for mode in self.model.failure_modes:
            for rule_id in mode.detection_rules:
                if mode.runbook:
                    runbooks.setdefault(rule_id, mode.runbook)
        rules = [build_rule(r, runbooks.get(r.id)) for r in self.model.detection_rules]
        rules.append(build_budget_rule(self.model))
        return [rule for rule in rules if rule is not None]

    # ------------------------------------------------------------------ using

    @property
    def service(self) -> str:
        return self.model.service

    def names(self) -> list[str]:
        """The policy targets, sorted."""
        return sorted(self.model.policies)

    def __contains__(self, name: object) -> bool:
        return name in self.model.policies

    def policy(self, name: str) -> Pipeline:
        """The pipeline guarding ``name``, built on first use and cached."""
        pipeline = self._pipelines.get(name)
        if pipeline is not None:
            return pipeline
        spec = self.model.policies.get(name)
        if spec is None:
            raise ConfigError(
                name,
                f"no policy of that name in catalog {self.service!r}",
                hint=_suggest(name, self.model.policies),
                code="MITIGATE.CONFIG.UNKNOWN_POLICY",
            )
        with self._lock:
            pipeline = self._pipelines.get(name)
            if pipeline is None:
                strategies = build_strategies(name, spec, self.model, self._handlers)
                pipeline = Pipeline(
                    name, *strategies, clock=self.clock, observers=self._pipeline_observers(name)
                )
                self._pipelines[name] = pipeline
        return pipeline

    def _pipeline_observers(self, target: str) -> list[Observer]:
        observers = list(self._observers)
        if self.detector.watches(target):
            observers.append(self.detector)
        return observers

    def observe(self, observer: Observer) -> None:
        """Send every event of every pipeline (built or not yet built), and every alert,
        to ``observer``."""
        with self._lock:
            self._observers.add(observer)
            for pipeline in self._pipelines.values():
                pipeline.observers.add(observer)

    def provide(self, fallback_id: str, handler: FallbackHandler) -> None:
        """Give the fallback ``fallback_id`` the function that answers instead of the
        primary; call it before the policy that uses the fallback is built."""
        known = {f.id for f in self.model.fallbacks}
        if fallback_id not in known:
            raise ConfigError(
                fallback_id,
                f"no fallback of that name in catalog {self.service!r}",
                hint=_suggest(fallback_id, known),
                code="MITIGATE.CONFIG.CATALOG",
            )
        with self._lock:
            users = [t for t, p in self.model.policies.items() if p.fallback == fallback_id]
            built = [t for t in users if t in self._pipelines]
            if built:
                raise ConfigError(
                    built[0],
                    f"policy already built without the handler for {fallback_id}",
                    hint="call catalog.provide(...) before catalog.policy(...)",
                    code="MITIGATE.CONFIG.CATALOG",
                )
            self._handlers[fallback_id] = handler

    def report(self, metric: str, value: float, *, target: str | None = None) -> None:
        """Feed a gauge the detection rules watch (queue depth, lag, ...)."""
        self.detector.report(metric, value, target=target)

    def failure_mode(self, mode_id: str) -> FailureMode:
        return _by_id(self.model.failure_modes, mode_id, "failure mode")

    def experiment(self, experiment_id: str) -> Experiment:
        return _by_id(self.model.experiments, experiment_id, "experiment")

    def __repr__(self) -> str:
        where = f" from {self.path}" if self.path else ""
        return f"<Catalog {self.service!r}{where}: {len(self.model.policies)} policies>"


def _problems(model: CatalogModel, doc: SourceDoc | None) -> list[Finding]:
    # Everything that would make a policy fail later: references, and each policy part's
    # notation completed by the catalog defaults (a fallback handler may come later).
    from mitigate.catalog.lint import policy_findings

    findings = check_references(model, doc)
    findings += [f for f in policy_findings(model, Locator(doc)) if f.code == "policy-invalid"]
    return findings


def _refuse(findings: list[Finding], path: str | None) -> None:
    errors = [f for f in findings if f.level == "error"]
    if errors:
        raise CatalogError(path, errors)


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
    if close:
        return "did you mean " + ", ".join(repr(c) for c in close) + "?"
    names = sorted(known)
    return "known: " + ", ".join(names) if names else "the catalog defines none"


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


def _by_id(items: Iterable[T], item_id: str, what: str) -> T:
    listed = list(items)
    for item in listed:
        if item.id == item_id:
            return item
    raise ConfigError(
        item_id,
        f"no {what} of that name",
        hint=_suggest(item_id, [i.id for i in listed]),
        code="MITIGATE.CONFIG.CATALOG",
    )
