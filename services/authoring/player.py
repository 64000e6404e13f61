"""The reference player: loads a published bundle and renders its blocks.

A player knows the registry version it was built with. A block of a kind it does not know
is rendered as the "unsupported block" stub (a tolerant reader) and counted, so a newer
bundle never breaks an older player's page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .domain.blocks import REGISTRY, render_for_player
from .events import UnsupportedBlock

__all__ = ["Player", "UnknownBlockKindError"]


class UnknownBlockKindError(ValueError):
    """A strict player met a kind it does not know (what the tolerant reader prevents)."""


class Player:
    def __init__(
        self,
        known: Iterable[str] = REGISTRY,
        *,
        tolerant: bool = True,
        clock: Any = None,
        observers: Iterable[Any] = (),
    ) -> None:
        self.known = tuple(known)
        self.tolerant = tolerant
        self.clock = clock
        self.observers = list(observers)
        self.unsupported = 0

    def render(self, bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
        shown = []
        for block in bundle.get("blocks", []):
            if block.get("kind") not in self.known:
                if not self.tolerant:
                    raise UnknownBlockKindError(f"unknown block kind {block.get('kind')!r}")
                self.unsupported += 1
                at = self.clock.now() if self.clock is not None else 0.0
                event = UnsupportedBlock(target="player", at=at, kind=str(block.get("kind")))
                for observer in self.observers:
                    observer(event)
            shown.append(render_for_player(block, self.known))
        return shown
