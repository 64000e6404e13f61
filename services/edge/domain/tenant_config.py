"""The tenant config file (``tenant.config.json`` role) and its validation.

A config that does not parse or does not validate is a :class:`ConfigProblem` naming the
file and the field path, so the ``validate`` command and the loader say exactly what to fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["ConfigProblem", "InvalidConfigError", "TenantConfig", "check_folder", "load_folder"]


class TenantConfig(BaseModel):
    """One tenant: its id, plan tier, hosts and API keys (the Zod schema's role)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    plan: Literal["free", "standard", "production"] = "standard"
    hosts: list[str] = Field(default_factory=list)
    api_keys: list[str] = Field(default_factory=list)
    limits: dict[str, int] = Field(default_factory=dict)
    ai_key: str = Field("", max_length=256)  # empty: the platform's provider key


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


def _parse(path: Path) -> tuple[TenantConfig | None, list[ConfigProblem]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, [ConfigProblem(path.name, "", f"not valid JSON: {exc}")]
    try:
        config = TenantConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [
            ConfigProblem(path.name, ".".join(str(p) for p in e["loc"]) or "$", e["msg"])
            for e in exc.errors()
        ]
        return None, problems
    if config.id != path.name.removesuffix(".json"):
        return None, [ConfigProblem(path.name, "id", "must equal the file name")]
    return config, []


def check_folder(folder: Path) -> tuple[list[TenantConfig], list[ConfigProblem]]:
    """Every ``*.json`` in ``folder``: the valid configs and every problem found."""
    configs: list[TenantConfig] = []
    problems: list[ConfigProblem] = []
    for path in sorted(folder.glob("*.json")):
        config, found = _parse(path)
        problems += found
        if config is not None:
            configs.append(config)
    return configs, problems


class InvalidConfigError(Exception):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def load_folder(folder: Path) -> list[TenantConfig]:
    """All configs of ``folder``, or :class:`InvalidConfigError` if any one is invalid:
    the loader never loads part of a broken set."""
    configs, problems = check_folder(folder)
    if problems:
        raise InvalidConfigError(problems)
    return configs
