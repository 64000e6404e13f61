"""The failure-mode catalog: schema, loading, policies built from it, lint and alert rules."""

from __future__ import annotations

from mitigate.catalog.model import CatalogModel

__all__ = ["CatalogModel"]
