"""The content service's settings (environment prefix ``CONTENT_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

__all__ = ["ContentSettings", "GiB"]

GiB = 1 << 30
HERE = Path(__file__).parent


class ContentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONTENT_", extra="ignore")

    name: str = "content"
    catalog: str = str(HERE / "catalog.yaml")
    # Where course assets are read from while a package is built (one folder per tenant).
    assets: str = ""
    # The catalog service; empty: the fake catalog runs in this process (embedded).
    catalog_url: str = ""
    # Tenants and their plan tier (content.fm.1.8: the package size cap is per tier).
    tenants: dict[str, str] = Field(
        default_factory=lambda: {"acme": "standard", "globex": "free", "initech": "enterprise"}
    )
    # Catalog values (catalog.yaml, content.fm.1.8 details): the seed names no numbers.
    tier_caps: dict[str, int] = Field(
        default_factory=lambda: {"free": 1 * GiB, "standard": 10 * GiB, "enterprise": 100 * GiB}
    )
    ops_token: str = "local-operator"  # operator endpoints (/ops/...) need it in x-ops-token
    # "inline": build in this process (streaming); "process": a builder subprocess with an
    # address-space limit (a runaway build is killed, not the service).
    builder: str = "process"
    builder_memory_mb: int = 512
    saga_poll: float = 1.0
    confirm_poll: float = 1.0  # how often the publish saga asks the catalog if it is live

    def plan(self, tenant: str) -> str:
        return self.tenants.get(tenant, "free")

    def cap(self, tenant: str) -> int:
        return self.tier_caps.get(self.plan(tenant), min(self.tier_caps.values()))
