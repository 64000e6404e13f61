"""Versioned schema migrations, one file per version, both dialects side by side.

A migration file is named ``v<NNNN>_<what>.py`` and defines ``MIGRATION``::

    MIGRATION = Migration(
        version=12,
        name="outbox",
        sqlite=("CREATE TABLE mitigate_outbox (...)",),
        postgres=("CREATE TABLE mitigate_outbox (...)",),
    )

Migrations are forward-only. The runner (:func:`mitigate.durable.migrate.migrate`) applies
every version not yet recorded in ``mitigate_schema_version``, in ascending order, each in
its own transaction together with its version row, so a failed migration leaves the schema
and the version as they were.

>>> [m.version for m in discover()][:1]
[1]

.. versionadded:: 0.1
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

from mitigate.durable.errors import MigrationConfigError

__all__ = ["Migration", "discover"]

_FILE = re.compile(r"^v(\d{4})_[a-z0-9_]+$")


@dataclass(frozen=True, slots=True, order=True)
class Migration:
    """One schema version: the statements for each dialect, run in one transaction.

    >>> Migration(version=0, name="x", sqlite=(), postgres=())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.durable.errors.MigrationConfigError: [MITIGATE.CONFIG.MIGRATION] migration 0 'x': ...
    """

    version: int
    name: str
    sqlite: tuple[str, ...] = ()
    postgres: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Lists work too (a service often builds them); stored as tuples so sorting works.
        object.__setattr__(self, "sqlite", tuple(self.sqlite))
        object.__setattr__(self, "postgres", tuple(self.postgres))
        if self.version < 1:
            raise MigrationConfigError(
                None, f"migration {self.version} {self.name!r}: version must be >= 1"
            )

    def statements(self, dialect: str) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgres


def discover() -> list[Migration]:
    """Every migration shipped in this package, ordered by version; versions are unique."""
    found: list[Migration] = []
    for info in pkgutil.iter_modules(__path__):
        match = _FILE.match(info.name)
        if not match:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        migration = module.MIGRATION
        if not isinstance(migration, Migration) or migration.version != int(match.group(1)):
            raise MigrationConfigError(
                None,
                f"{info.name}: MIGRATION must be a Migration whose version matches the file name",
            )
        found.append(migration)
    found.sort()
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationConfigError(
            None,
            f"two migration files share a version: {versions}",
            hint="give the newer file the next free version",
        )
    return found
