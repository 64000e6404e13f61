"""The device side wired with its fake providers, in one process, on one clock: what an
experiment (or a test) drives over HTTP. Hosts: content.test (API and origin objects),
cdn.test (caching edge), push.test (push provider), ai.test (AI gateway); one httpx
client reaches them all through the ASGI transport, as production code reaches the real
ones."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

import mitigate
import mitigate.chaos
from mitigate.web import LocalObjects, SignedObjectApp
from services.kit.proxied import ToProxy, serve_behind_proxy

from .adapters.ai_gateway import AssistantConfigClient, FakeAiGateway
from .adapters.cdn import FakeCdn
from .adapters.cdn_cache import RedisIndexedCdnCache
from .adapters.kms import LocalKms
from .adapters.push import FakePushProvider, PushClient
from .api import assistant, devices, downloads, keys
from .device_client import SimulatedDevice, origin_download
from .devices import AllOn, DeviceSide, Ports, tamper_settings

CATALOG = Path(__file__).with_name("catalog.yaml")
OPS_TOKEN = "testbed-operator"
__all__ = ["CATALOG", "HostRouter", "Testbed", "alerts", "tamper_settings"]
ROUTERS = (devices.router, downloads.router, keys.router, assistant.router)


class HostRouter:
    """One ASGI app per host name; ``content.test/objects/...`` is the origin."""

    def __init__(self, hosts: dict[str, ASGIApp], origin: ASGIApp) -> None:
        self.hosts = hosts
        self.origin = origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = dict(scope.get("headers") or []).get(b"host", b"").decode().split(":")[0]
        app = self.hosts[host]
        if host == "content.test" and str(scope.get("path", "")).startswith("/objects/"):
            app = self.origin
        await app(scope, receive, send)


class _ByHost(httpx.AsyncBaseTransport):
    """In process through ASGI, except the hosts that are served for real."""

    def __init__(self, asgi: httpx.AsyncBaseTransport, real: dict[str, Any]) -> None:
        self.asgi = asgi
        self.real = real

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.real.get(request.url.host, self.asgi)
        return await transport.handle_async_request(request)


class Testbed:
    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *,
        clock: mitigate.Clock,
        catalog: mitigate.Catalog,
        policy: Callable[[str], Any],
        observers: list[Any],
        switches: Any = None,
        license_lifetimes: dict[str, float] | None = None,
        folder: Path | None = None,
        url_clock: mitigate.Clock | None = None,
    ) -> None:
        self.clock = clock
        self.catalog = catalog
        self.policy = policy
        self._real_hosts: dict[str, httpx.AsyncBaseTransport] = {}
        self.cdn_proxy: Any = None  # on the real clock: the fault proxy in front of the CDN
        self.folder = folder or Path(tempfile.mkdtemp(prefix="content-testbed-"))
        overlap = catalog.failure_mode("content.fm.1.6").details["key overlap"]
        self.ring = mitigate.KeyRing.generate(
            clock=clock, overlap=mitigate.parse_duration(overlap), observers=observers
        )
        # The content side's wall time, which a clock-skew fault can move (fm.1.9 on the
        # real clock: the link is cut, and the host's date is 11 min later at the resume).
        self.url_signer = mitigate.UrlSigner(
            b"content-url-secret-for-testbed-0", clock=url_clock or clock
        )
        self.push = FakePushProvider()
        self.ai = FakeAiGateway(clock)
        self.kms = LocalKms()
        objects = self.folder / "objects"
        objects.mkdir(parents=True, exist_ok=True)
        origin = SignedObjectApp(self.url_signer, LocalObjects(objects), observers=observers)
        self.api = FastAPI(title="content (device side)")
        for router in ROUTERS:
            self.api.include_router(router)
        self.cdn = FakeCdn(self.url_signer, self._client_for(origin, "content.test"), clock)
        self.router = HostRouter(
            {
                "content.test": self.api,
                "cdn.test": self.cdn,
                "push.test": self.push.app,
                "ai.test": self.ai.app,
            },
            origin,
        )
        threshold, window = tamper_settings(catalog)
        self.side = DeviceSide(
            clock=clock,
            policy=policy,
            ring=self.ring,
            url_signer=self.url_signer,
            ports=Ports(
                kms=self.kms,
                push=PushClient(self.client("push.test")),
                ai=AssistantConfigClient(self.client("ai.test")),
                cdn=self.client("cdn.test"),
                cdn_base="http://cdn.test",
                origin_base="http://content.test",
            ),
            objects_root=objects,
            tamper_threshold=threshold,
            tamper_window=window,
            license_lifetimes=license_lifetimes or {},
            observers=observers,
            report=catalog.report,
            switches=switches or AllOn(),
            ops_token=OPS_TOKEN,
        )
        self.api.state.devices = self.side
        for fallback_id, handler in self.side.fallback_handlers().items():
            catalog.provide(fallback_id, handler)
        catalog.provide("content.fallback.3", origin_download)
        self.recorder: mitigate.Recorder | None = None  # standalone: every event
        self.http = self.client("content.test")  # the operator's and the publisher's client
        self.http.headers["x-ops-token"] = OPS_TOKEN
        self._workers: list[Callable[[], Any]] = []
        self._stops: list[Callable[[], Any]] = []
        self._tasks: list[Any] = []
        self._link_fault: tuple[Any, str] | None = None

    def _client_for(self, app: ASGIApp, host: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")

    def client(self, host: str) -> httpx.AsyncClient:
        # An unhandled error reaches the client as a 500, as it would over the network.
        asgi = httpx.ASGITransport(app=self.router, raise_app_exceptions=False)
        transport = _ByHost(asgi, self._real_hosts)
        return httpx.AsyncClient(transport=transport, base_url=f"http://{host}")

    async def serve_cdn_for_real(self) -> None:
        """On the real clock: the CDN served by uvicorn behind the TCP fault proxy; every
        client's requests to cdn.test then cross a real socket (content.fallback.3)."""
        to_proxy = ToProxy()
        proxied = await serve_behind_proxy(self.cdn, self.clock, to_proxy)
        self._real_hosts["cdn.test"] = to_proxy
        self.cdn_proxy = proxied.proxy
        self._stops.append(proxied.stop)

    async def cdn_down(self, run: Any) -> None:
        """The CDN fails: 503 from the edge in virtual time; on the real clock the link
        is down (connections refused). A fault window on the run's timeline either way."""
        run.timeline.window(self.clock.now(), None, self._cdn_fault)
        if self.cdn_proxy is not None:
            await self.cdn_proxy.down()
        else:
            self.cdn.fail_status = 503

    async def cdn_up(self, run: Any) -> None:
        if self.cdn_proxy is not None:
            await self.cdn_proxy.up()
        else:
            self.cdn.fail_status = 0
        run.timeline.close_window(self._cdn_fault, self.clock.now())

    @property
    def _cdn_fault(self) -> str:
        return "CDN link down (TCP proxy)" if self.cdn_proxy is not None else "CDN answers 503"

    def device(
        self, device_id: str, tenant: str = "acme", *, with_key: bool = True
    ) -> SimulatedDevice:
        return SimulatedDevice(
            device_id,
            tenant,
            client=self.client("content.test"),
            clock=self.clock,
            push=self.push,
            folder=self.folder / "devices" / device_id,
            policy=self.policy,
            with_key=with_key,
        )

    def start_worker(self) -> Callable[[], Any]:
        """Start the bundle worker as a background task; returns the function that stops
        it (a worker restart is stop, then start again)."""
        stop = asyncio.Event()
        task = asyncio.ensure_future(self.side.run_worker(stop))

        async def halt() -> None:
            stop.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self._workers.append(halt)
        return halt

    async def add_course(self, course_id: str, content: bytes) -> None:
        response = await self.http.put(f"/ops/courses/{course_id}/offline-source", content=content)
        response.raise_for_status()

    @classmethod
    def for_run(cls, run: Any, **kwargs: Any) -> Testbed:
        observers = [*run.observers, run.catalog.detector]
        bed = cls(
            clock=run.clock,
            catalog=run.catalog,
            policy=run.policy,
            observers=observers,
            switches=getattr(run, "switches", None),
            url_clock=run.injector.clock_for(run.clock, "content"),
            **kwargs,
        )
        run.rollback(bed.close)
        return bed

    async def slow_link_cut(self, run: Any, size: int, *, fraction: float, clients: int) -> None:
        """Throttle downloads from the CDN and cut each of the next ``clients`` transfers
        at ``fraction`` of ``size``; the resume comes 11 min later, past the URL's 10 min
        TTL. In virtual time the edge stalls the cut transfer for 11 min; on the real
        clock the TCP proxy throttles and cuts, and the content side's date moves 11 min
        ahead (a clock-skew fault) once the transfers are under way."""
        if self.cdn_proxy is None:
            self.cdn.cut_fraction, self.cdn.cut_transfers = fraction, clients
            self.cdn.cut_stall = 11 * 60.0
            return
        proxy = self.cdn_proxy
        self._link_fault = (run, f"slow link, cut at {fraction:.0%} (TCP proxy)")
        run.timeline.window(self.clock.now(), None, self._link_fault[1])
        proxy.bandwidth(256 * 1024, direction="downstream")
        proxy.cut_after(int(size * fraction), direction="downstream")
        started = proxy.bytes["downstream"]

        async def later_at_the_resume() -> None:
            while proxy.bytes["downstream"] - started < 1024 * clients:
                await self.clock.asleep(0.005)
            await run.inject(
                mitigate.chaos.ClockSkew(party="content", offset=11 * 60), duration=3600
            )

        self._tasks.append(asyncio.ensure_future(later_at_the_resume()))

    def link_clear(self) -> None:
        if self.cdn_proxy is not None:
            self.cdn_proxy.clear()
        if self._link_fault is not None:
            run, label = self._link_fault
            run.timeline.close_window(label, self.clock.now())
            self._link_fault = None

    @classmethod
    async def open(cls, run: Any, **kwargs: Any) -> Testbed:
        """The testbed of one run. Device state stays in process whatever the run's
        backend: on a VirtualClock a real server's I/O would let the clock jump while the
        loop waits on a socket; the state table is tested on PostgreSQL in
        tests/services/content/test_device_state.py. The CDN's copies are indexed in the
        real Redis when the run's backend names it."""
        bed = cls.for_run(run, **kwargs)
        uses = getattr(run, "uses", None)
        if uses is not None and uses("redis"):
            await bed.cdn_on_redis()
        if not isinstance(run.clock, mitigate.VirtualClock):
            await bed.serve_cdn_for_real()
        return bed

    async def cdn_on_redis(self, url: str = "redis://127.0.0.1:6379/0") -> None:
        """The CDN edge keeps its copies on local disk indexed in the real Redis (a
        fresh index per run, deleted at the end)."""
        import redis.asyncio as aioredis

        index = f"content:cdn:{uuid.uuid4().hex}"
        self.cdn.cache = RedisIndexedCdnCache(aioredis.from_url(url), self.folder / "cdn", index)
        self._stops.append(self.cdn.cache.aclose)

    @classmethod
    def standalone(cls, clock: mitigate.Clock | None = None, **kwargs: Any) -> Testbed:
        clock = clock or mitigate.VirtualClock()
        recorder = mitigate.Recorder()
        catalog = mitigate.Catalog.load(CATALOG, clock=clock, observers=[recorder])
        bed = cls(
            clock=clock, catalog=catalog, policy=catalog.policy, observers=[recorder], **kwargs
        )
        bed.recorder = recorder
        return bed

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for halt in self._workers:
            await halt()
        for stop in self._stops:
            await stop()
        await self.http.aclose()
        if self.side.ports.cdn is not None:
            await self.side.ports.cdn.aclose()
        await self.cdn.origin.aclose()
        await self.side.aclose()


def alerts(run: Any, rule: str) -> list[Any]:
    """The ``alert.raised`` events of one detection rule in this run."""
    return [e for e in run.recorder.named("alert.raised") if getattr(e, "rule", "") == rule]


def expect_detection(run: Any, mode_id: str) -> bool:
    """Check that one of the detection rules the catalog lists for ``mode_id`` raised
    ``alert.raised`` in this run: the failure mode was detected the way it claims."""
    modes = run.catalog.model.failure_modes if run.catalog is not None else []
    rules = next((list(m.detection_rules) for m in modes if m.id == mode_id), [])
    fired = sorted({str(getattr(e, "rule", "")) for e in run.recorder.named("alert.raised")})
    hits = [rule for rule in rules if rule in fired]
    return run.expect(
        f"{mode_id} detected: one of its rules raised alert.raised",
        bool(hits),
        f"fired {hits or 'none'} of {rules or 'no rules in the catalog'}",
    )
