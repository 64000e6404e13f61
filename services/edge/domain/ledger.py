"""The counters actor's method: apply a list of operations to named counters in order.

Pure: it mutates the state it is given and raises :class:`LedgerError` on a bad
operation (``div`` by zero),
possibly after earlier operations already changed the state; the actor host makes the
call all-or-nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["LedgerError", "Operation", "apply"]


class LedgerError(ValueError):
    """An operation that cannot apply (its predecessors in the call may have)."""


class Operation(BaseModel):
    op: Literal["add", "div"]
    field: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    amount: int = Field(0, ge=-(10**9), le=10**9)
    by: int = Field(1, ge=-(10**9), le=10**9)


def apply(state: dict[str, Any], operations: list[Operation]) -> dict[str, int]:
    counters: dict[str, int] = state.setdefault("counters", {})
    for operation in operations:
        value = int(counters.get(operation.field, 0))
        if operation.op == "add":
            counters[operation.field] = value + operation.amount
        else:
            if operation.by == 0:
                raise LedgerError(f"{operation.field}: division by zero")
            counters[operation.field] = value // operation.by
    return dict(counters)
