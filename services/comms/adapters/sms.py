"""The SMS port: one provider reached through kit's :class:`Remote`, each call through the
catalog's pipeline of its target (``sms.primary``: retry with backoff, attempt timeout).

A send carries the dispatch id as the provider's idempotency key and client reference,
so a retried attempt never makes a second message. When the pipeline gives up, the
outcome says whether the provider *proved* it refused the message (every attempt
answered, with a refusal) or whether some attempt ended without an answer (a timeout):
only the first may fail over to another provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from services.kit.calls import call
from services.kit.http import Remote, RemoteError, RemoteRefusedError

__all__ = ["SendOutcome", "SmsProvider"]


@dataclass
class SendOutcome:
    state: str  # "sent", "refused" (proved: fail over is safe), "unknown" (no answer seen)
    provider_id: str = ""
    reason: str = ""


class SmsProvider:
    def __init__(self, name: str, remote: Remote, *, target: str, status_target: str) -> None:
        self.name = name
        self.remote = remote
        self.target = target
        self.status_target = status_target

    async def send(self, reference: str, to: str, body: str) -> SendOutcome:
        unanswered = 0

        async def attempt() -> Any:
            nonlocal unanswered
            unanswered += 1
            try:
                answer = await self.remote.client.post(
                    "/v1/messages",
                    json={"to": to, "body": body, "reference": reference},
                    headers={"Idempotency-Key": reference},
                )
            except httpx.ConnectError as exc:  # not connected: the message never left
                unanswered -= 1
                raise RemoteError(self.target, f"cannot connect: {exc}") from exc
            unanswered -= 1  # an answer came: whatever it says, the outcome is known
            if answer.status_code >= 500 or answer.status_code == 429:
                raise RemoteError(self.target, f"answered {answer.status_code}")
            if answer.status_code >= 400:
                raise RemoteRefusedError(self.target, answer.status_code, answer.text)
            return answer.json()

        try:
            taken = await call(
                self.remote.policy(self.target), attempt, permanent=(RemoteRefusedError,)
            )
        except RemoteRefusedError as exc:
            return SendOutcome("refused", reason=str(exc))
        except Exception as exc:  # the pipeline gave up (retries, budget, breaker)
            state = "unknown" if unanswered else "refused"
            return SendOutcome(state, reason=f"{type(exc).__name__}: {exc}")
        return SendOutcome("sent", provider_id=str(taken["id"]))

    async def lookup(self, reference: str) -> str | None:
        """The provider's id of the message with this reference, or None when it provably
        has none. Raises when the provider cannot say (the outcome stays unknown)."""
        body = await self.remote.request(
            self.status_target, "GET", "/v1/messages", params={"reference": reference}
        )
        items = (body or {}).get("items") or []
        return str(items[0]["id"]) if items else None
