"""Start the content service as a real process (``mitigate serve content``) for tests."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from tests.services.serving import Served, serve


def serve_content(tmp: Path, backend: str = "embedded") -> AbstractContextManager[Served]:
    return serve("content", tmp, backend, {"CONTENT_BUILDER": "process"})
