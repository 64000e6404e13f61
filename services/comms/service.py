"""The comms service assembled: runtime, providers, dispatcher, app; and ``serve``.

``open_comms(settings)`` builds it on the backends the settings name (or on a runtime an
experiment built); ``serve()`` is what ``uv run mitigate serve comms`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

import mitigate
from services.kit.http import Remote, asgi_transport
from services.kit.runtime import Runtime
from services.kit.serve import run_service

from .adapters.email import EmailSender
from .adapters.fake_mta import FakeMta
from .adapters.push import PushSender
from .adapters.sms import SmsProvider
from .app import build_app
from .attachments import Attachments
from .bounces import BounceGuard
from .budget import ErrorBudgets
from .dispatcher import SWITCHES, Dispatcher
from .domain.templates import Templates
from .erasure import Erasures
from .failover import Failover, PrimaryStore
from .fakes import FakeProviders
from .feedback import PushFeedback
from .join_tokens import JoinTokens
from .log_scan import LogScanner
from .outbox_events import Events
from .participants import Participants, check_database_role
from .read_receipts import ReadReceipts
from .receipts import Receipts, receipt_limiter
from .recordings import Recordings
from .scanning import Scanning
from .scheduling import Scheduling
from .schema import ensure_schema
from .service_log import JsonLog
from .sessions import Sessions
from .settings import CommsSettings
from .sli_feed import SliFeed
from .workers import running

__all__ = ["Comms", "open_comms", "serve"]


@dataclass
class Comms:
    settings: CommsSettings
    runtime: Runtime
    dispatcher: Dispatcher
    fakes: FakeProviders | None
    remotes: list[Remote]
    receipts: Receipts | None = None
    bounces: BounceGuard | None = None
    tokens: JoinTokens | None = None
    recordings: Recordings | None = None
    attachments: Attachments | None = None
    reads: ReadReceipts | None = None
    erasures: Erasures | None = None
    scheduling: Scheduling | None = None
    events: Events | None = None
    sessions: Sessions | None = None
    feedback: PushFeedback | None = None
    budgets: ErrorBudgets | None = None
    sli: SliFeed | None = None  # live dispatch outcomes, fed to the budgets
    participants: Participants | None = None
    log_scan: LogScanner | None = None
    scanning: Scanning | None = None
    failover: Failover | None = None
    app: Any = None
    closers: list[Any] = field(default_factory=list)

    async def aclose(self) -> None:
        for remote in self.remotes:
            await remote.aclose()
        for close in reversed(self.closers):
            await close()
        await self.runtime.aclose()


async def open_comms(
    settings: CommsSettings, *, runtime: Runtime | None = None, detector: Any = None
) -> Comms:
    """The comms service on ``runtime`` (opened from ``settings`` when not given). Provider
    URLs left empty are the fake providers, reached in process on the runtime's clock."""
    settings = settings.resolved()  # type: ignore[assignment]
    owned = runtime is None
    if runtime is None:
        runtime = await Runtime.open(settings)
    # The store as the primary server: a chaos run can cut its connection (comms.fm.5).
    runtime.store = PrimaryStore(runtime.store, injector=runtime.injector, emit=runtime.emit)
    try:
        await runtime.migrate(ensure_schema)
        await check_database_role(runtime)  # before any work: RLS must bind this connection
    except BaseException:
        if owned:
            await runtime.aclose()
        raise
    fakes = None
    urls = (settings.sms_primary_url, settings.sms_secondary_url, settings.push_url)
    if not all((*urls, settings.video_url, settings.scanner_url)):
        fakes = FakeProviders.create(runtime.clock)

    def remote(url: str, fake_app: Any) -> Remote:
        if url:
            return Remote(url, runtime.policy)
        return Remote("http://providers.fake", runtime.policy, transport=asgi_transport(fake_app))

    assert fakes is not None or settings.sms_primary_url
    primary = remote(settings.sms_primary_url, fakes.sms_primary.app if fakes else None)
    secondary = remote(settings.sms_secondary_url, fakes.sms_secondary.app if fakes else None)
    push = remote(settings.push_url, fakes.push.app if fakes else None)
    video = remote(settings.video_url, fakes.video.app if fakes else None)
    scanner = remote(settings.scanner_url, fakes.scanner.app if fakes else None)
    closers: list[Any] = []
    smtp = settings.smtp_url
    if not smtp:
        # The fake MTA is a real SMTP server on 127.0.0.1, in this process's event loop.
        mta = await FakeMta().start()
        closers.append(mta.aclose)
        if fakes is not None:
            fakes.mta = mta
        smtp = f"smtp://127.0.0.1:{mta.port}"
    host, _, port = smtp.removeprefix("smtp://").partition(":")
    email = EmailSender(host, int(port or 25), policy=runtime.policy, sender=settings.email_sender)
    bounces = BounceGuard(
        runtime,
        settings,
        switches={"throttle": SWITCHES["email_throttle"], "disable": SWITCHES["email_disable"]},
    )
    dispatcher = Dispatcher(
        runtime,
        settings,
        templates=Templates(settings.templates),
        sms=[
            SmsProvider(
                "primary", primary, target="sms.primary", status_target="sms-status.primary"
            ),
            SmsProvider(
                "secondary",
                secondary,
                target="sms.secondary",
                status_target="sms-status.secondary",
            ),
        ],
        push=PushSender(push, project="comms", clock=runtime.clock, observers=runtime.observers),
        email=email,
        bounces=bounces,
    )
    comms = Comms(settings, runtime, dispatcher, fakes, [primary, secondary, push, video, scanner])
    comms.sessions = Sessions(
        runtime,
        video,
        threads_per_day=settings.threads_per_day,
        switches={"thread": SWITCHES["fallback_thread"], "breaker": SWITCHES["thread_breaker"]},
    )
    comms.tokens = JoinTokens(
        runtime,
        video,
        ring_path=Path(settings.keys) / "ring.json",
        lifetime=settings.join_token_lifetime,
        switches={
            "rotation": SWITCHES["emergency_rotation"],
            "revoke": SWITCHES["session_revoke"],
        },
    )
    comms.sessions.tokens = comms.tokens
    comms.recordings = Recordings(runtime, video, keep_source_switch=SWITCHES["keep_source"])
    comms.sessions.recordings = comms.recordings
    comms.attachments = Attachments(
        runtime,
        cap=settings.max_upload_size,
        secret=settings.upload_url_secret.encode(),
        switches={
            "gateway": SWITCHES["gateway_cap"],
            "service": SWITCHES["service_cap"],
            "signed-url": SWITCHES["url_cap"],
        },
    )
    comms.scanning = Scanning(
        runtime,
        scanner,
        refuse_above=settings.scan_refuse_above,
        scale_above=settings.scan_scale_above,
        scale_after=settings.scan_scale_after,
        max_workers=settings.scan_max_workers,
        watch_every=settings.scan_watch_every,
        switches={"backpressure": SWITCHES["scan_backpressure"], "scale": SWITCHES["scan_scale"]},
    )
    comms.attachments.scanning = comms.scanning
    comms.bounces = bounces
    comms.closers += closers
    comms.receipts = Receipts(
        runtime,
        limiter=receipt_limiter(runtime, settings),
        switches={"limit": SWITCHES["receipt_limit"], "dedupe": SWITCHES["receipt_dedupe"]},
    )
    if detector is None and runtime.catalog is not None:
        detector = runtime.catalog.detector
    comms.erasures = Erasures(
        runtime,
        log_path=Path(settings.data_dir) / "comms-dispatch.log",
        replay_switch=SWITCHES["erasure_replay"],
    )
    dispatcher.erasures = comms.erasures
    comms.events = Events(runtime, outbox_switch=SWITCHES["outbox"])
    dispatcher.events = comms.events
    comms.scheduling = Scheduling(
        runtime, inbox_switch=SWITCHES["scheduling_inbox"], use_inbox=settings.scheduling_inbox
    )
    clock_of = getattr(runtime.injector, "clock_for", None)  # chaos runs skew a host's clock
    comms.reads = ReadReceipts(
        runtime,
        workers={
            name: clock_of(runtime.clock, name) if clock_of else runtime.clock
            for name in settings.receipt_workers
        },
        detector=detector,
        switches={"guard": SWITCHES["skew_guard"], "db_order": SWITCHES["db_order"]},
    )
    comms.feedback = PushFeedback(
        runtime,
        push,
        project="comms",
        stale_after=settings.feedback_stale_after,
        detector=detector,
    )
    catalog = runtime.catalog or mitigate.Catalog.load(settings.catalog, clock=runtime.clock)
    comms.budgets = ErrorBudgets(
        runtime, catalog.model.error_budget, switch=SWITCHES["budget_freeze"]
    )
    comms.sli = SliFeed(
        comms.budgets,
        latency_objective=settings.sli_latency_objective,
        every=settings.sli_flush_every,
    )
    dispatcher.sli = comms.sli
    comms.failover = await Failover.open(
        runtime,
        settings,
        switches={"replica": SWITCHES["replica_reads"], "preflight": SWITCHES["preflight_writes"]},
        on_drained=dispatcher.log_dispatch,
    )
    dispatcher.failover = comms.failover
    comms.closers.append(comms.failover.aclose)
    comms.participants = Participants(runtime, switch=SWITCHES["participant_check"])
    logs = Path(settings.data_dir) / "logs"
    service_log = JsonLog(logs / "comms.jsonl")
    runtime.observers.append(service_log)
    comms.closers.append(_closing(service_log))
    comms.log_scan = LogScanner(
        runtime, folder=logs, switch=SWITCHES["log_pii_scan"], notice=dispatcher.notice
    )
    comms.app = build_app(comms)
    return comms


def _closing(log: JsonLog) -> Any:
    async def close() -> None:
        log.close()

    return close


@contextlib.asynccontextmanager
async def _serving(settings: CommsSettings) -> AsyncIterator[Any]:
    runtime = await Runtime.open(settings.resolved())
    server = None
    fakes = None
    if not settings.sms_primary_url:
        # The fake providers run as their own HTTP server on 127.0.0.1: the service reaches
        # them over a real socket, as it would the real ones.
        fakes = FakeProviders.create(runtime.clock)
        server = uvicorn.Server(
            uvicorn.Config(
                fakes.app(), host="127.0.0.1", port=0, lifespan="off", log_level="warning"
            )
        )
        task = asyncio.create_task(server.serve())
        while not server.started:
            await runtime.clock.asleep(0.01)
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        settings = settings.model_copy(
            update={
                "sms_primary_url": f"{base}/sms-primary",
                "sms_secondary_url": f"{base}/sms-secondary",
                "push_url": f"{base}/push",
                "video_url": f"{base}/video",
                "scanner_url": f"{base}/scanner",
            }
        )
    comms = await open_comms(settings, runtime=runtime)
    if fakes is not None and comms.fakes is not None:
        fakes.mta = comms.fakes.mta
    comms.fakes = fakes
    try:
        async with running(comms):
            yield comms.app
    finally:
        await comms.aclose()
        if server is not None:
            server.should_exit = True
            await task


def serve(*, host: str = "127.0.0.1", port: int = 8000, backend: str = "embedded") -> int:
    """Run the comms service until SIGTERM (the ``mitigate.services`` entry point)."""
    settings = CommsSettings().with_backend(backend)
    return run_service(lambda: _serving(settings), host=host, port=port)  # type: ignore[arg-type]
