"""A fake receiving mail server: a real SMTP server (aiosmtpd) on 127.0.0.1, in the
running event loop. Mailboxes listed in ``unknown`` (or whose local part starts with
``nobody``) are refused at RCPT with ``550 5.1.1``: a hard bounce the sender sees at once,
as a real MTA reports a non-existent mailbox."""

from __future__ import annotations

import asyncio
from email import message_from_bytes
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["FakeMta"]


class FakeMta:
    def __init__(self) -> None:
        self.unknown: set[str] = set()
        self.delivered: list[dict[str, Any]] = []  # {"to", "subject", "messageId"}
        self.refused: list[str] = []
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1") -> FakeMta:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SMTP(self, hostname="mta.fake"), host, 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def aclose(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def bounces(self, address: str) -> bool:
        return address in self.unknown or address.split("@", 1)[0].startswith("nobody")

    # aiosmtpd handler hooks
    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.bounces(address):
            self.refused.append(address)
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or envelope.content or b""
        parsed = message_from_bytes(raw if isinstance(raw, bytes) else raw.encode())
        for to in envelope.rcpt_tos:
            self.delivered.append(
                {"to": to, "subject": parsed["Subject"], "messageId": parsed["Message-ID"]}
            )
        return "250 Message accepted for delivery"
