"""Service settings: one URL per backend, read from the environment with a per-service prefix.

The embedded default needs nothing running: a SQLite file, the in-process durable bus, no
cache, local files and a local key ring, all under ``data_dir``. ``--backend
postgres+nats+redis`` (or the same URLs in the environment) switches to the production
servers. ``CONTENT_STORE=postgresql://... CONTENT_BUS=nats://...`` sets one backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .roles import as_role

__all__ = ["BACKENDS", "ServiceSettings"]

# What each production backend name means on one machine (the servers of the test suite).
BACKENDS: dict[str, dict[str, str]] = {
    "postgres": {"store": "postgresql://postgres@127.0.0.1:5432/postgres"},
    "nats": {"bus": "nats://127.0.0.1:4222"},
    "redis": {"cache": "redis://127.0.0.1:6379/0"},
    "s3": {"objects": "s3://mitigate-services?endpoint=http://127.0.0.1:9000"},
}


class ServiceSettings(BaseSettings):
    """The settings every service shares. Subclass with ``env_prefix`` per service."""

    model_config = SettingsConfigDict(env_prefix="MITIGATE_SERVICE_", extra="ignore")

    name: str = "service"
    data_dir: Path = Path(".mitigate/services")
    store: str = Field("", description="sqlite:///path.db or postgresql://user@host/db")
    bus: str = Field("inproc", description="inproc or nats://host:port")
    cache: str = Field("none", description="none or redis://host:port/db")
    objects: str = Field("", description="file:///dir or s3://bucket?endpoint=http://...")
    keys: str = Field("", description="directory of the local key ring")
    catalog: str = Field("", description="path of the service's catalog.yaml")
    schema_name: str = Field("", description="PostgreSQL schema (default: the service name)")
    stream: str = Field("", description="bus stream name (default: the service name)")
    subject_prefix: str = Field(
        "", description="prefix of every bus subject (isolates test runs on one NATS server)"
    )
    store_owner: str = Field(
        "",
        description="PostgreSQL URL of the tables' owner: it runs the migrations and grants"
        " the app role (``store``'s user) its rights; empty: ``store`` does both",
    )
    app_role: str = Field(
        "",
        description="the role the service connects as on PostgreSQL when its tables carry"
        " row-level security (owns nothing, NOBYPASSRLS); ``--backend postgres`` then"
        " connects as it and makes the backend's user the owner",
    )
    consumed: list[str] = Field(
        default_factory=list,
        description="subject patterns of other services' events this service consumes, carried"
        " by its own stream on NATS (``tenant.>``); none by default",
    )
    poll: float = Field(0.05, description="idle poll of the relay and the in-process bus (s)")
    breaker_namespace: str = Field(
        "",
        description="where the workers' breakers share their openings in the cache"
        " (default: service name and stream; the same for every worker of one deployment)",
    )

    def resolved(self) -> ServiceSettings:
        """Fill the URLs left empty with the embedded defaults under ``data_dir`` (created)."""
        base = self.data_dir.resolve()
        base.mkdir(parents=True, exist_ok=True)
        updates: dict[str, Any] = {"data_dir": base}
        if not self.store:
            updates["store"] = f"sqlite:///{base / (self.name + '.db')}"
        if not self.objects:
            updates["objects"] = f"file://{base / (self.name + '-objects')}"
        if not self.keys:
            updates["keys"] = str(base / (self.name + "-keys"))
        if not self.schema_name:
            updates["schema_name"] = self.name
        if not self.stream:
            updates["stream"] = self.name.upper()
        return self.model_copy(update=updates)

    def with_backend(self, backend: str | None) -> ServiceSettings:
        """These settings on ``backend``: ``embedded`` (no change) or names joined by ``+``
        from :data:`BACKENDS` (``postgres+nats+redis``)."""
        if not backend or backend == "embedded":
            return self
        updates: dict[str, str] = {}
        for part in backend.split("+"):
            if part not in BACKENDS:
                known = ", ".join(["embedded", *BACKENDS])
                raise ValueError(f"unknown backend {part!r} in {backend!r}; use {known}")
            updates.update(BACKENDS[part])
        if "store" in updates and self.app_role:  # RLS binds neither owner nor superuser
            updates["store_owner"] = updates["store"]
            updates["store"] = as_role(updates["store"], self.app_role)
        return self.model_copy(update=updates)

    def subject(self, name: str) -> str:
        """The bus subject ``name`` (``content.package.built.v1``) with the prefix."""
        return f"{self.subject_prefix}{name}"

    @property
    def store_url(self) -> str:
        """The store URL, with the service's PostgreSQL schema."""
        return self.in_schema(self.store)

    def in_schema(self, url: str) -> str:
        """``url`` (a store URL: the store, a replica) in the service's PostgreSQL schema."""
        if url.startswith(("postgresql://", "postgres://")) and "schema=" not in url:
            sep = "&" if "?" in url else "?"
            return f"{url}{sep}schema={self.schema_name or self.name}"
        return url
