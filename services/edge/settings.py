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
    kv_prefix: str = Field("edge:kv:", description="prefix of every KV key in Redis")
