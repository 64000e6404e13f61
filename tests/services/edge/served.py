"""Start the edge service as a real process (``mitigate serve edge``) for tests, with its
tenant configs written first."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from services.edge.harness import write_tenants
from tests.services.serving import Served, serve


def serve_edge(
    tmp: Path, backend: str = "embedded", tenants: dict[str, Any] | None = None
) -> AbstractContextManager[Served]:
    write_tenants(tmp / "data" / "tenants", tenants)
    return serve("edge", tmp, backend, {"EDGE_KV_PREFIX": f"edge:t{uuid.uuid4().hex[:8]}:"})
