"""The edge service's settings (environment prefix ``EDGE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

__all__ = ["EdgeSettings"]

HERE = Path(__file__).parent


class EdgeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EDGE_", extra="ignore")

    name: str = "edge"
    catalog: str = str(HERE / "catalog.yaml")
    # One validated JSON file per tenant (tenant.config.json role); empty: tenants/ under data.
    tenants_dir: str = ""
    ops_token: str = "local-operator"  # operator endpoints (/ops/...) need it in x-ops-token
    # KV over Redis: a key prefix isolates runs on one server.
    kv: str = Field("", description="redis://host:port/db of KV; empty: the cache URL, if any")
    kv_prefix: str = Field("edge:kv:", description="prefix of every KV key in Redis")
    # Propagation delay of a KV write per reader location (seed 004: up to 60 s).
    kv_delays: dict[str, float] = Field(
        default_factory=lambda: {"origin": 0.0, "eu": 20.0, "us": 45.0, "ap": 60.0}
    )

    # The AI provider; empty: the fake provider server, in this process.
    ai_url: str = ""
    ai_key: str = "key-platform"
    # Limiter shards per hot key; 0: the catalog's value (edge.fm.2.4b).
    limiter_shards: int = 0

    @property
    def kv_url(self) -> str:
        if self.kv:
            return self.kv
        return "" if self.cache in ("", "none") else self.cache
