"""FAILURE_MODES documents in and out: draft a catalog from one, render one from a catalog.

>>> result = import_markdown("1.1 Disk full\\n- Cause: logs not rotated.\\n- Mitigation: rotate.",
...                          service="ledger")
>>> [fm.id for fm in result.catalog.failure_modes]
['ledger.fm.1.1']
>>> import_markdown(render_markdown(result.catalog)).catalog == result.catalog
True

.. versionadded:: 0.1
"""

from __future__ import annotations

from mitigate.catalog.markdown.importer import ImportResult, Unmapped, import_markdown
from mitigate.catalog.markdown.render import render_markdown, render_runbook_index

__all__ = ["ImportResult", "Unmapped", "import_markdown", "render_markdown", "render_runbook_index"]
