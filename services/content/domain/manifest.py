"""A package manifest: what a draft publishes. Validated with pydantic; invalid input is a
clear, permanent error (content.fm.1.1: never retried)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["Asset", "Manifest", "ManifestError", "parse_manifest"]

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ManifestError(ValueError):
    """The manifest does not describe a package that can be built."""

    code = "CONTENT.MANIFEST.INVALID"


def _safe_path(value: str) -> str:
    parts = value.split("/")
    if len(parts) > 16 or not all(_SEGMENT.match(p) for p in parts):
        raise ValueError("must be a relative path of simple names (letters, digits, . _ -)")
    return value


class Asset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Annotated[str, Field(min_length=1, max_length=512)]
    """Where the asset sits inside the package."""
    source: Annotated[str, Field(min_length=1, max_length=512)]
    """The asset's name in the tenant's asset store."""
    size: Annotated[int | None, Field(ge=0, le=1 << 40)] = None
    sha256: Annotated[str | None, Field(pattern=r"^[0-9a-f]{64}$")] = None

    _path = field_validator("path", "source")(_safe_path)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, Field(min_length=1, max_length=200)]
    version: Annotated[str, Field(pattern=r"^[0-9]{1,6}(\.[0-9]{1,6}){0,2}$")]
    entry: Annotated[str, Field(min_length=1, max_length=512)]
    assets: Annotated[list[Asset], Field(min_length=1, max_length=10_000)]

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        paths = [a.path for a in self.assets]
        if len(set(paths)) != len(paths):
            raise ValueError("asset paths must be unique")
        if self.entry not in paths:
            raise ValueError(f"entry {self.entry!r} is not one of the assets")
        return self

    def declared_size(self) -> int:
        return sum(a.size or 0 for a in self.assets)


def parse_manifest(raw: str | bytes) -> Manifest:
    """The manifest in ``raw`` (JSON), or :class:`ManifestError` naming what is wrong."""
    try:
        return Manifest.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        raise ManifestError(problems) from None
