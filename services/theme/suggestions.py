"""AI colour suggestions: the orchestrator's output passes a gate (schema, safety flag)
and is stored only as a suggestion; a human applies it. When the orchestrator fails or
its output does not pass, the caller gets 503 MELMASTOON.AI.UNAVAILABLE with Retry-After
and edits by hand; nothing is stored."""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import mitigate
from services.kit.errors import ServiceError
from services.kit.runtime import Runtime

from .adapters.ai import AiClient

__all__ = ["AiUnavailable", "Suggestions"]

log = logging.getLogger("services.theme.suggestions")
SWITCH = "theme.switch.ai-output-gate"
POLICY = "ai.suggest"
_HEX = r"^#[0-9a-fA-F]{6}$"


class _Safety(BaseModel):
    model_config = ConfigDict(extra="forbid")
    blocked: bool


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid")
    colors: dict[str, str] = Field(max_length=10)
    safety: _Safety


@dataclass(frozen=True, slots=True, kw_only=True)
class AiUnavailable(mitigate.Event):
    name: ClassVar[str] = "theme.ai_unavailable"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    reason: str = ""


class Suggestions:
    def __init__(self, runtime: Runtime, ai: AiClient) -> None:
        self.rt = runtime
        self.ai = ai

    def _refuse(self, reason: str) -> ServiceError:
        self.rt.emit(AiUnavailable(target=POLICY, at=self.rt.clock.now(), reason=reason))
        log.warning("AI suggestion refused: %s", reason)
        return ServiceError(
            "MELMASTOON.AI.UNAVAILABLE",
            "suggestions are unavailable right now; edit the theme by hand or retry later",
            status=503,
            retry_after=30,
        )

    def _gate(self, raw: Any) -> dict[str, str]:
        if not self.rt.switches.enabled(SWITCH):
            colors = raw.get("colors", {}) if isinstance(raw, dict) else {}
            return {str(k): str(v) for k, v in dict(colors).items()}
        try:
            output = _Output.model_validate(raw)
        except ValidationError as err:
            raise self._refuse(f"schema-invalid output: {err.error_count()} error(s)") from err
        if output.safety.blocked:
            raise self._refuse("safety-blocked output")
        bad = [k for k, v in output.colors.items() if not re.match(_HEX, v)]
        if bad:
            raise self._refuse(f"schema-invalid colours: {bad}")
        return output.colors

    async def suggest(self, tenant: str, theme_id: str, prompt: str) -> dict[str, Any]:
        try:
            raw = await self.rt.policy(POLICY).acall(self.ai.suggest, prompt)
        except Exception as err:
            raise self._refuse(f"orchestrator failed: {type(err).__name__}") from err
        colors = self._gate(raw)
        suggestion_id = uuid.uuid4().hex
        await self.rt.store.execute(
            "INSERT INTO theme_suggestions (id, tenant, theme_id, body, state, at)"
            " VALUES (?, ?, ?, ?, 'pending', ?)",
            (suggestion_id, tenant, theme_id, json.dumps(colors), self.rt.clock.wall()),
        )
        return {"id": suggestion_id, "colors": colors, "state": "pending"}

    async def list(self, tenant: str, theme_id: str) -> list[dict[str, Any]]:
        rows = await self.rt.store.fetch(
            "SELECT id, body, state FROM theme_suggestions WHERE tenant = ? AND theme_id = ?",
            (tenant, theme_id),
        )
        return [{"id": i, "colors": json.loads(b), "state": s} for i, b, s in rows]
