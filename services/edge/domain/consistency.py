"""Which store each kind of data lives in, and the rule KV must not break.

KV is eventually consistent (writes take up to 60 s to reach every location), so an
operation that needs read-after-write consistency (session state, billing, payments,
rate limits) may not be placed on it; it belongs to a per-key actor or the store. The
catalog declares the placement under edge.fm.2.3b (``store of <operation>: kv | actor |
store``); :func:`refusals` is the lint over that declaration.
"""

from __future__ import annotations

__all__ = ["PREFIX", "STRONG", "placements", "refusals"]

PREFIX = "store of "
STRONG = frozenset({"session-state", "billing", "payments", "rate-limits"})
STORES = frozenset({"kv", "actor", "store"})


def placements(details: dict[str, str]) -> dict[str, str]:
    """``{operation: store}`` from a failure mode's details."""
    return {
        key.removeprefix(PREFIX).strip(): value.strip().lower()
        for key, value in details.items()
        if key.startswith(PREFIX)
    }


def refusals(details: dict[str, str]) -> list[str]:
    """Why the declared placement is refused (empty: accepted)."""
    out = []
    for operation, store in sorted(placements(details).items()):
        if store not in STORES:
            out.append(f"{PREFIX}{operation}: unknown store {store!r} (kv, actor or store)")
        elif store == "kv" and operation in STRONG:
            out.append(
                f"{PREFIX}{operation}: kv is eventually consistent (up to 60 s); a strongly"
                " consistent operation belongs to an actor or the store"
            )
    return out
