"""docs/api.md: its examples run top to bottom, so the reference cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_api_reference_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 1
    namespace: dict[str, object] = {"__name__": "docs_api"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec", dont_inherit=True), namespace)


NEW_NAMES = [
    "Migration", "migrate", "ErrorEnvelopeMiddleware", "error_body", "current_trace_id",
    "Health", "WorkQueue", "Job", "LeaseLostError", "QueueError", "Scheduler", "Protected",
    "assert_no_protected", "PiiLeakError", "find_protected", "protected_fields", "redact",
    "OpenTelemetryObserver", "HealthCheckFailed", "JobDeadLettered", "ScheduledJobFailed",
    "PiiLeakBlocked",
]  # fmt: skip


def test_every_new_public_name_is_in_the_reference() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in NEW_NAMES if f"`{name}" not in text and f" {name}(" not in text]
    assert not missing, f"docs/api.md does not document {missing}"
