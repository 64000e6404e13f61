"""The durable ``store`` fixtures (SQLite and PostgreSQL) for the bus tests."""

from tests.durable.conftest import store, store_factory

__all__ = ["store", "store_factory"]
