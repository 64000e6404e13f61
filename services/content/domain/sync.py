"""What a device is told when it syncs. Revocations come before anything else (seed
1.5: "sync prioritizes revocation deltas"), so a device that reads only the first part
of a response, or loses the connection half way, has still applied them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Lower sorts first. Revocations first, then keys (a new kid must reach the device before
# any bundle signed with it), then bundles and licences.
PRIORITY = {"revocation": 0, "keys": 1, "bundle": 2, "license": 3}


@dataclass(frozen=True, slots=True)
class Delta:
    kind: str
    id: str
    data: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "seq": self.seq, **self.data}


def order_deltas(deltas: Iterable[Delta], *, revocations_first: bool = True) -> list[Delta]:
    """Revocations, then keys, then the rest, each in the order they happened.

    >>> d = [Delta("bundle", "b1", seq=1), Delta("revocation", "b0", seq=2)]
    >>> [x.kind for x in order_deltas(d)]
    ['revocation', 'bundle']
    >>> [x.kind for x in order_deltas(d, revocations_first=False)]
    ['bundle', 'revocation']
    """
    items = list(deltas)
    if not revocations_first:
        return sorted(items, key=lambda d: d.seq)
    return sorted(items, key=lambda d: (PRIORITY.get(d.kind, len(PRIORITY)), d.seq))
