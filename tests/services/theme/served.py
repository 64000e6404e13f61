"""Start the theme service as a real process (``mitigate serve theme``) for tests."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from tests.services.serving import Served, serve


def serve_theme(tmp: Path, backend: str = "embedded") -> AbstractContextManager[Served]:
    return serve("theme", tmp, backend)
