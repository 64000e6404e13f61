"""A draft's publishing states and the moves between them (pure)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DraftState", "can_publish", "check_move"]


class DraftState(StrEnum):
    APPROVED = "approved"  # ready to publish; editable again after a failed publish
    BUILDING = "building"  # the publish saga runs
    PUBLISHED = "published"


_MOVES = {
    (DraftState.APPROVED, DraftState.BUILDING),
    (DraftState.BUILDING, DraftState.PUBLISHED),
    (DraftState.BUILDING, DraftState.APPROVED),  # compensation
    (DraftState.PUBLISHED, DraftState.BUILDING),  # a new version
}


def can_publish(state: str) -> bool:
    return state in (DraftState.APPROVED, DraftState.PUBLISHED)


def check_move(old: str, new: str) -> bool:
    return (DraftState(old), DraftState(new)) in _MOVES
