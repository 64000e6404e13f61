"""The email port: real SMTP (aiosmtplib) to the configured server, through the catalog's
``email.send`` pipeline. A recipient refused with a 5xx is a hard bounce: permanent, not
retried, reported as ``bounced``; a transport failure is retried by the pipeline."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import aiosmtplib

from services.kit.calls import call

__all__ = ["EmailSender"]


class EmailSender:
    def __init__(self, host: str, port: int, *, policy: Any, sender: str) -> None:
        self.host = host
        self.port = port
        self.policy = policy
        self.sender = sender

    async def send(self, message_id: str, to: str, subject: str, text: str) -> str:
        """``"delivered"`` (the server took it) or ``"bounced"`` (it refused the mailbox)."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = f"<{message_id}@comms>"
        message.set_content(text)

        async def attempt() -> str:
            try:
                await aiosmtplib.send(
                    message, hostname=self.host, port=self.port, timeout=10, start_tls=False
                )
            except aiosmtplib.SMTPRecipientsRefused as exc:
                if all(500 <= r.code < 600 for r in exc.recipients):
                    return "bounced"  # permanent: never retried
                raise
            return "delivered"

        result: str = await call(self.policy("email.send"), attempt)
        return result
