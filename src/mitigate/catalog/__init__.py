r"""The failure-mode catalog: schema, loading, policies built from it, lint and alert rules.

>>> from mitigate.clock import VirtualClock
>>> catalog = Catalog.from_text("service: demo\npolicies:\n  kms.sign: {timeout: 500ms}\n",
...                             clock=VirtualClock())
>>> catalog.policy("kms.sign").target
'kms.sign'
"""

from __future__ import annotations

from mitigate.catalog.alerts import alert_rules
from mitigate.catalog.findings import CatalogError, Finding
from mitigate.catalog.lint import lint_file, lint_model
from mitigate.catalog.load import Catalog
from mitigate.catalog.model import CatalogModel
from mitigate.catalog.signal import parse_signal

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogModel",
    "Finding",
    "alert_rules",
    "lint_file",
    "lint_model",
    "parse_signal",
]
