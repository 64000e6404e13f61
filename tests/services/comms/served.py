"""Start the comms service as a real process (``mitigate serve comms``) for tests."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from tests.services.serving import Served, serve

OPS_TOKEN = "local-operator"  # the settings' default operator token


def serve_comms(tmp: Path, backend: str = "embedded") -> AbstractContextManager[Served]:
    return serve("comms", tmp, backend, {"COMMS_POLL": "0.2"})
