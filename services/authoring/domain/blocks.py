"""Blocks, the frozen block registry, and the AI provenance invariant.

The registry is frozen (F17): a new version may add kinds, never remove or rename one, so
a bundle made with the first version loads in every later player. A player that meets a
kind it does not know renders the "unsupported block" stub instead of failing the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "REGISTRY",
    "REGISTRY_V1",
    "Block",
    "DomainError",
    "RegistryChangeError",
    "check_additive",
    "new_block",
    "render_for_player",
]

# Version 1 of the registry, as the first bundles were made with it. Never edit: append.
REGISTRY_V1: tuple[str, ...] = ("text", "image", "video", "quiz", "ai-text")
REGISTRY: tuple[str, ...] = (*REGISTRY_V1, "interactive-coding")

# Kinds whose content an AI wrote: each must carry its provenance.
AI_KINDS = frozenset({"ai-text"})
PROVENANCE_FIELDS = ("model", "promptId", "generatedAt")


class DomainError(Exception):
    """A rule of the authoring domain was broken; ``code`` is stable for API callers."""

    code = "AUTHORING.DOMAIN"
    status = 422

    class AIProvenanceRequired(Exception):  # noqa: N818 (the seed names it so)
        code = "AUTHORING.AI.PROVENANCE_REQUIRED"
        status = 422

    class UnknownKind(Exception):  # noqa: N818 (beside AIProvenanceRequired)
        code = "AUTHORING.BLOCK.UNKNOWN_KIND"
        status = 422


class RegistryChangeError(ValueError):
    """A registry change removed or renamed a kind (only additions are allowed)."""


@dataclass(frozen=True, slots=True)
class Block:
    id: str
    kind: str
    body: Mapping[str, Any]
    media: tuple[str, ...] = ()
    ai_provenance: Mapping[str, Any] | None = field(default=None)

    @property
    def ai_generated(self) -> bool:
        return self.kind in AI_KINDS or bool(self.body.get("aiGenerated"))


def new_block(
    block_id: str,
    kind: str,
    body: Mapping[str, Any],
    *,
    media: Iterable[str] = (),
    ai_provenance: Mapping[str, Any] | None = None,
    registry: tuple[str, ...] = REGISTRY,
) -> Block:
    """A block that keeps the invariants; the only way the service makes one."""
    if kind not in registry:
        raise DomainError.UnknownKind(f"block kind {kind!r} is not in the registry")
    block = Block(block_id, kind, dict(body), tuple(media), ai_provenance)
    require_provenance(block)
    return block


def require_provenance(block: Block) -> None:
    """An AI block without complete provenance is refused (seed 001, 1.3)."""
    if not block.ai_generated:
        return
    prov = block.ai_provenance or {}
    missing = [name for name in PROVENANCE_FIELDS if not prov.get(name)]
    if missing:
        raise DomainError.AIProvenanceRequired(
            f"AI block {block.id} has no aiProvenance ({', '.join(missing)} missing)"
        )


def check_additive(old: Iterable[str], new: Iterable[str]) -> None:
    """A registry change keeps every earlier kind in place (additions only)."""
    old, new = tuple(old), tuple(new)
    if new[: len(old)] != old:
        gone = [k for k in old if k not in new]
        raise RegistryChangeError(
            f"the block registry is frozen: kinds may be appended only (removed or moved: {gone})"
        )


def render_for_player(block: Mapping[str, Any], known: Iterable[str] = REGISTRY) -> dict[str, Any]:
    """What a player shows for ``block``: itself, or the stub when its kind is unknown."""
    if block.get("kind") in set(known):
        return dict(block)
    return {"id": block.get("id"), "kind": "unsupported", "originalKind": block.get("kind")}
