"""The error a service raises for its callers: a stable code, a message, an HTTP status.

The app factory turns it into the error envelope ``{"code", "message", "traceId"}``, plus
the ``details`` the caller needs to act (field-level violations, the references that
block a removal) when there are any.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServiceError"]


class ServiceError(Exception):
    """A refusal the caller can act on (``status`` < 500) or a dependency failure (503)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 400,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.details = details or {}
