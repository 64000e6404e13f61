"""The authoring service's settings (environment prefix ``AUTHORING_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

__all__ = ["AuthoringSettings"]

HERE = Path(__file__).parent


class AuthoringSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTHORING_", extra="ignore")

    name: str = "authoring"
    catalog: str = str(HERE / "catalog.yaml")
    # The services publishing calls; empty: the fake runs in this process (embedded).
    media_url: str = ""
    catalog_url: str = ""
    content_url: str = ""
    tenants: dict[str, str] = Field(
        default_factory=lambda: {"acme": "standard", "globex": "free", "initech": "enterprise"}
    )
    saga_poll: float = 1.0
