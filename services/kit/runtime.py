"""What a service is given to run: clock, policies, switches, observers and its backends.

Production builds it from settings with :meth:`Runtime.open` (policies from the service's
catalog, every switch on, the real clock). An experiment builds it from its run: the run's
clock, ``run.policy`` (so faults attach and ``--mutate`` can remove a policy),
``run.switches`` and ``run.observers``. The service code is the same either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

import mitigate

from .breakers import share_breakers
from .objects import ObjectStore, open_objects
from .roles import ensure_login_role, grant_app_role, migrate_as_owner, role_of
from .settings import ServiceSettings

__all__ = ["AllOn", "Runtime"]


class AllOn:
    """Production switches: every mitigation on (nothing is disabled outside a mutation run)."""

    disabled: frozenset[str] = frozenset()

    def enabled(self, name: str) -> bool:
        return True


@dataclass
class Runtime:
    """The dependencies a service's use cases, routes and workers share."""

    settings: ServiceSettings
    clock: Any
    policy: Callable[[str], Any]
    switches: Any
    observers: list[Any]
    store: Any
    bus: Any
    objects: ObjectStore
    keyring: Any
    cache: Any = None
    injector: Any = None
    catalog: Any = None
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    closers: list[Callable[[], Any]] = field(default_factory=list)
    owner_store: Any = None  # the tables' owner, until the service's migrations are in

    @property
    def name(self) -> str:
        return self.settings.name

    def emit(self, event: Any) -> None:
        for observer in self.observers:
            observer(event)

    @classmethod
    async def open(
        cls,
        settings: ServiceSettings,
        *,
        clock: Any = None,
        policy: Callable[[str], Any] | None = None,
        switches: Any = None,
        observers: Iterable[Any] = (),
        injector: Any = None,
    ) -> Runtime:
        """Open every backend the settings name; ``policy`` defaults to the catalog's."""
        settings = settings.resolved()
        clock = clock or mitigate.RealClock()
        observers = list(observers)
        catalog = None
        if policy is None:
            catalog = mitigate.Catalog.load(settings.catalog, clock=clock, observers=observers)
            policy = catalog.policy
            # What the service emits itself (saga.stuck, its own events) reaches the
            # catalog's detection rules; pipelines feed the detector directly.
            observers = [*observers, catalog.detector]
        owner_store = None
        if settings.store_owner:  # migrations as the owner, the service as the app role
            owner_store = await mitigate.open_store(
                settings.in_schema(settings.store_owner), clock=clock
            )
            app = role_of(settings.store)
            await ensure_login_role(owner_store, app)
            await grant_app_role(owner_store, settings.schema_name, app)
        store = await mitigate.open_store(
            settings.store_url, clock=clock, migrate=owner_store is None
        )
        closers: list[Callable[[], Any]] = [store.aclose]
        bus = await _open_bus(settings, store, clock=clock, injector=injector, observers=observers)
        if hasattr(bus, "aclose"):
            closers.insert(0, bus.aclose)
        cache = None
        switches = switches if switches is not None else AllOn()
        if settings.cache not in ("", "none"):
            import redis.asyncio as aioredis

            cache = aioredis.Redis.from_url(settings.cache)
            closers.insert(0, cache.aclose)
            if switches.enabled(f"{settings.name}.switch.shared-breakers"):
                namespace = settings.breaker_namespace or f"{settings.name}.{settings.stream}"
                policy, shared = await share_breakers(
                    settings.name, namespace, cache, policy, clock=clock
                )
                closers.insert(0, shared.aclose)
        objects = open_objects(settings.objects, injector=injector, clock=clock)
        closers.insert(0, objects.aclose)
        keyring = _open_keyring(Path(settings.keys), clock=clock, observers=observers)
        return cls(
            settings=settings,
            clock=clock,
            policy=policy,
            switches=switches,
            observers=observers,
            store=store,
            bus=bus,
            objects=objects,
            keyring=keyring,
            cache=cache,
            injector=injector,
            catalog=catalog,
            closers=closers,
            owner_store=owner_store,
        )

    async def migrate(self, apply: Callable[[Any], Any]) -> int:
        """Apply the service's migrations (``apply(store)``), as the tables' owner when
        the settings name one (see services/kit/roles.py)."""
        return await migrate_as_owner(self, apply)

    async def aclose(self) -> None:
        if self.owner_store is not None:
            with contextlib.suppress(Exception):
                await self.owner_store.aclose()
            self.owner_store = None
        for close in self.closers:
            with contextlib.suppress(Exception):
                result = close()
                if hasattr(result, "__await__"):
                    await result
        self.closers.clear()


async def _open_bus(
    settings: ServiceSettings, store: Any, *, clock: Any, injector: Any, observers: list[Any]
) -> Any:
    if settings.bus in ("", "inproc"):
        return mitigate.InprocBus(
            store,
            stream=settings.stream,
            clock=clock,
            injector=injector,
            observers=observers,
            poll=settings.poll,
        )
    if settings.bus.startswith("nats://"):
        from mitigate.bus import NatsBus

        return await NatsBus.connect(
            settings.bus,
            stream=settings.stream,
            subjects=[
                settings.subject(f"{settings.name}.>"),
                *(settings.subject(pattern) for pattern in settings.consumed),
            ],
            clock=clock,
            injector=injector,
            observers=observers,
        )
    raise ValueError(f"unknown bus URL {settings.bus!r}; use inproc or nats://host:port")


def _open_keyring(folder: Path, *, clock: Any, observers: list[Any]) -> Any:
    """The local key ring in ``folder`` (created with one fresh key on first use)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ring.json"
    if path.exists():
        return mitigate.KeyRing.load(path, clock=clock, observers=observers, target="kms")
    ring = mitigate.KeyRing.generate(clock=clock, observers=observers, target="kms")
    ring.save(path)
    return ring
