"""The authoring domain: the frozen block registry, the player's stub, AI provenance."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from services.authoring.domain.blocks import (
    REGISTRY,
    REGISTRY_V1,
    DomainError,
    RegistryChangeError,
    check_additive,
    new_block,
    render_for_player,
)

SERVICE = Path(__file__).resolve().parents[3] / "services" / "authoring"


def test_registry_is_additive_only() -> None:
    check_additive(REGISTRY_V1, REGISTRY)
    with pytest.raises(RegistryChangeError):
        check_additive(REGISTRY_V1, tuple(k for k in REGISTRY if k != "quiz"))
    with pytest.raises(RegistryChangeError):
        check_additive(REGISTRY_V1, ("text", "picture", *REGISTRY[2:]))


def test_older_player_renders_the_stub_for_an_unknown_kind() -> None:
    block = {"id": "b1", "kind": "interactive-coding", "body": {}}
    shown = render_for_player(block, REGISTRY_V1)
    assert shown == {"id": "b1", "kind": "unsupported", "originalKind": "interactive-coding"}
    assert render_for_player({"id": "b2", "kind": "text"}, REGISTRY_V1)["kind"] == "text"


def test_ai_block_needs_complete_provenance() -> None:
    with pytest.raises(DomainError.AIProvenanceRequired):
        new_block("b", "ai-text", {"text": "x"})
    with pytest.raises(DomainError.AIProvenanceRequired):
        new_block("b", "text", {"aiGenerated": True}, ai_provenance={"model": "m"})
    prov = {"model": "m", "promptId": "p", "generatedAt": "t"}
    assert new_block("b", "ai-text", {}, ai_provenance=prov).ai_provenance == prov
    assert new_block("b", "text", {"text": "plain"}).ai_provenance is None


def test_only_the_repository_writes_blocks() -> None:
    """Every path that stores a block goes through Drafts.add_block (which builds it with
    new_block): no other module names the blocks table in an INSERT or UPDATE."""
    writers = []
    for path in SERVICE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.upper()
                if "AUTHORING_BLOCKS" in text and ("INSERT" in text or "UPDATE" in text):
                    writers.append(path.name)
    assert sorted(set(writers)) == ["drafts.py"], writers
