"""What never leaves in a push payload: patient identity and message content travel only
inside the app, after it fetches them with the user's session (comms.fm.11)."""

from __future__ import annotations

__all__ = ["PUSH_PROTECTED"]

# Bare names match the key at any depth of the payload (mitigate.guard pii).
PUSH_PROTECTED = frozenset(
    {
        "patientName",
        "patient",
        "messageText",
        "message_text",
        "phone",
        "email",
        "dateOfBirth",
        "mrn",
        "diagnosis",
    }
)
