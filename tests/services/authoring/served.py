"""Start the authoring service as a real process (``mitigate serve authoring``) for tests."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from tests.services.serving import Served, serve


def serve_authoring(tmp: Path, backend: str = "embedded") -> AbstractContextManager[Served]:
    return serve("authoring", tmp, backend, {"AUTHORING_SAGA_POLL": "0.2"})
