"""What the SQLite and PostgreSQL stores share: clock, commit counter, migrations.

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from mitigate.clock import Clock
from mitigate.durable.errors import StoreConfigError
from mitigate.errors import ConfigError

if TYPE_CHECKING:
    from mitigate.durable.store import Store

__all__ = ["StoreBase", "wrong_connection"]


class StoreBase:
    """The parts of a :class:`~mitigate.durable.store.Store` that do not depend on the database."""

    _clock: Clock
    _commits: int

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def commits(self) -> int:
        return self._commits

    async def migrate(self, *, target: int | None = None) -> int:
        from mitigate.durable.migrate import migrate

        return await migrate(cast("Store", self), target=target)

    async def schema_version(self) -> int:
        from mitigate.durable.migrate import applied_versions

        return max(await applied_versions(cast("Store", self)), default=0)


def wrong_connection(target: str, expected: str, connection: object) -> ConfigError:
    """The error ``adopt()`` raises for a connection of the wrong kind.

    >>> print(wrong_connection("sqlite", "sqlite3.Connection", 1))
    [MITIGATE.CONFIG.STORE] sqlite: adopt() takes a sqlite3.Connection, not int
    """
    return StoreConfigError(target, f"adopt() takes a {expected}, not {type(connection).__name__}")
