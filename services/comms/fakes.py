"""The fake providers of one comms service (two SMS gateways, a push provider, video-room
pools, an AV scanner), either reached in process (virtual time) or served on 127.0.0.1
under one uvicorn server, each under its own path prefix, as the real ones are reached
over the network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from .adapters.fake_mta import FakeMta
from .adapters.fake_push import FakePushProvider
from .adapters.fake_scanner import FakeScanner
from .adapters.fake_sms import FakeSmsGateway
from .adapters.fake_video import FakeVideoPools

__all__ = ["FakeProviders"]


@dataclass
class FakeProviders:
    sms_primary: FakeSmsGateway
    sms_secondary: FakeSmsGateway
    push: FakePushProvider
    video: FakeVideoPools
    scanner: FakeScanner
    mta: FakeMta | None = None  # started by open_comms when no SMTP server is configured

    @classmethod
    def create(cls, clock: Any) -> FakeProviders:
        return cls(
            FakeSmsGateway("primary", clock),
            FakeSmsGateway("secondary", clock),
            FakePushProvider(),
            FakeVideoPools(),
            FakeScanner(clock),
        )

    def app(self) -> Starlette:
        """All under one server: /sms-primary, /sms-secondary, /push, /video, /scanner."""
        return Starlette(
            routes=[
                Mount("/sms-primary", app=self.sms_primary.app),
                Mount("/sms-secondary", app=self.sms_secondary.app),
                Mount("/push", app=self.push.app),
                Mount("/video", app=self.video.app),
                Mount("/scanner", app=self.scanner.app),
            ]
        )
