"""The push port: FCM-shaped sends through kit's :class:`Remote` (target ``push.send``).
Every payload passes the pre-send PII assertion first (comms.fm.11): a payload carrying a
protected field never reaches the provider."""

from __future__ import annotations

from typing import Any

from mitigate.guard import assert_no_protected
from services.kit.http import Remote

from ..domain.privacy import PUSH_PROTECTED

__all__ = ["PushSender"]


class PushSender:
    def __init__(self, remote: Remote, *, project: str, clock: Any, observers: list[Any]) -> None:
        self.remote = remote
        self.project = project
        self.clock = clock
        self.observers = observers

    def check(self, payload: dict[str, Any]) -> None:
        """Raise :class:`mitigate.PiiLeakError` (and emit ``pii.leak_blocked``) when the
        payload carries a protected field."""
        assert_no_protected(
            payload, PUSH_PROTECTED, where="push.send", observers=self.observers, clock=self.clock
        )

    async def send(self, token: str, payload: dict[str, Any], *, guarded: bool = True) -> str:
        if guarded:
            self.check(payload)
        message = {"token": token, **payload}
        answer = await self.remote.request(
            "push.send",
            "POST",
            f"/v1/projects/{self.project}/messages:send",
            json={"message": message},
        )
        return str((answer or {}).get("name", ""))
