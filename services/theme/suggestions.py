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

__all__ = ["BANNED", "AiSafetyRejected", "AiUnavailable", "Suggestions"]

log = logging.getLogger("services.theme.suggestions")
SWITCH = "theme.switch.ai-output-gate"
APPROVAL = "theme.switch.human-approval"
POLICY = "ai.suggest"
_HEX = r"^#[0-9a-fA-F]{6}$"


class _Safety(BaseModel):
    model_config = ConfigDict(extra="forbid")
    blocked: bool


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid")
    colors: dict[str, str] = Field(max_length=10)
    rationale: str = Field("", max_length=500)
    safety: _Safety


# Phrases that show the model followed instructions smuggled into the tenant's input.
BANNED = ("ignore previous instructions", "system prompt", "disregard the above", "<script")


@dataclass(frozen=True, slots=True, kw_only=True)
class AiSafetyRejected(mitigate.Event):
    """The model's output was refused as a safety matter (schema break, banned phrase)."""

    name: ClassVar[str] = "theme.ai_safety_rejected"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AiUnavailable(mitigate.Event):
    name: ClassVar[str] = "theme.ai_unavailable"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.WARNING
    reason: str = ""


class Suggestions:
    def __init__(self, runtime: Runtime, ai: AiClient, themes: Any) -> None:
        self.rt = runtime
        self.ai = ai
        self.themes = themes

    def _refuse(self, reason: str) -> ServiceError:
        self.rt.emit(AiUnavailable(target=POLICY, at=self.rt.clock.now(), reason=reason))
        log.warning("AI suggestion refused: %s", reason)
        return ServiceError(
            "MELMASTOON.AI.UNAVAILABLE",
            "suggestions are unavailable right now; edit the theme by hand or retry later",
            status=503,
            retry_after=30,
        )

    def _safety(self, reason: str) -> None:
        self.rt.emit(AiSafetyRejected(target=POLICY, at=self.rt.clock.now(), reason=reason))
        log.warning("AI output refused on safety grounds: %s", reason)

    def _gate(self, raw: Any) -> dict[str, str]:
        if not self.rt.switches.enabled(SWITCH):
            colors = raw.get("colors", {}) if isinstance(raw, dict) else {}
            return {str(k): str(v) for k, v in dict(colors).items()}
        try:
            output = _Output.model_validate(raw)
        except ValidationError as err:
            reason = f"schema-invalid output: {err.error_count()} error(s)"
            self._safety(reason)
            raise self._refuse(reason) from err
        lowered = output.rationale.lower()
        banned = [phrase for phrase in BANNED if phrase in lowered]
        if banned:
            self._safety(f"banned phrases {banned}")
            raise self._refuse("output with banned phrases")
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
        if not self.rt.switches.enabled(APPROVAL):  # without the gate: applied at once
            await self._apply(tenant, theme_id, colors)
        return {"id": suggestion_id, "colors": colors, "state": "pending"}

    async def approve(self, tenant: str, suggestion_id: str) -> dict[str, Any]:
        """A human applies a pending suggestion to the theme's working version."""
        rows = await self.rt.store.fetch(
            "SELECT theme_id, body, state FROM theme_suggestions WHERE tenant = ? AND id = ?",
            (tenant, suggestion_id),
        )
        if not rows:
            raise ServiceError(
                "MELMASTOON.THEME.SUGGESTION_NOT_FOUND",
                f"no suggestion {suggestion_id}",
                status=404,
            )
        theme_id, body, state = rows[0]
        if state != "pending":
            raise ServiceError(
                "MELMASTOON.THEME.SUGGESTION_DONE", f"suggestion is {state}", status=409
            )
        await self._apply(tenant, str(theme_id), json.loads(body))
        await self.rt.store.execute(
            "UPDATE theme_suggestions SET state = 'approved' WHERE id = ?", (suggestion_id,)
        )
        return {"id": suggestion_id, "state": "approved"}

    async def _apply(self, tenant: str, theme_id: str, colors: dict[str, str]) -> None:
        from .domain.document import ThemeDocument

        themes = self.themes
        current = await themes.get(tenant, theme_id)
        doc = ThemeDocument.model_validate(current["document"])
        doc.colors = {**doc.colors, **colors}
        await themes.save(tenant, theme_id, doc, current["revision"])

    async def list(self, tenant: str, theme_id: str) -> list[dict[str, Any]]:
        rows = await self.rt.store.fetch(
            "SELECT id, body, state FROM theme_suggestions WHERE tenant = ? AND theme_id = ?",
            (tenant, theme_id),
        )
        return [{"id": i, "colors": json.loads(b), "state": s} for i, b, s in rows]
