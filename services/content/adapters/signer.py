"""The KMS signing port: sign a package's index digest with the key ring's active key,
through the ``kms.sign`` pipeline (retry 50 ms, 200 ms, 500 ms in 1 s; breaker 10 / 30 s)."""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["RingSigner"]


class RingSigner:
    """Embedded KMS: the local key ring (production: a KMS's Sign call, same port)."""

    def __init__(self, ring: Any) -> None:
        self.ring = ring
        self.calls = 0

    async def sign(self, digest: bytes) -> dict[str, str]:
        self.calls += 1
        signature = self.ring.sign(digest)
        return {"kid": signature.kid, "sig": base64.urlsafe_b64encode(signature.value).decode()}
