"""A small checkout service built on mitigate: every dependency call goes through the
pipeline the catalog defines for it, and the fallbacks are the service's own code.

The dependencies (payment gateway, warehouse, fulfilment) are in-process stand-ins; in
production they would be HTTP clients. Faults are injected at the pipelines' injection
point, so the service reacts to them as it would to the real thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mitigate import Switches

PENDING = "payment-pending"


@dataclass
class PaymentGateway:
    """Charges cards; ``on_charge`` is told about every charge actually taken."""

    on_charge: Callable[[str], None] = lambda order_id: None
    charges: list[str] = field(default_factory=list)

    async def charge(self, order_id: str, amount: int) -> str:
        self.charges.append(order_id)
        self.on_charge(order_id)
        return f"ch_{order_id}"


@dataclass
class Warehouse:
    levels: dict[str, int] = field(default_factory=lambda: {"mug": 40})

    async def level(self, sku: str) -> int:
        return self.levels[sku]


@dataclass
class Fulfilment:
    """Receives orders; ignores one it already has (it may be sent twice)."""

    on_receive: Callable[[str], None] = lambda order_id: None
    orders: set[str] = field(default_factory=set)

    async def receive(self, order_id: str) -> None:
        if order_id in self.orders:
            return
        self.orders.add(order_id)
        self.on_receive(order_id)


ORDER_DEDUPE = "checkout.dedupe.order"
"""The switch of the order dedupe: a second submission of an order is answered, not
charged again."""


class Shop:
    """Checkout: read stock, charge (or accept as payment pending), hand to fulfilment.

    ``policy(name)`` gives the pipeline guarding a dependency (``catalog.policy`` in
    production); ``catalog`` receives the fallback handlers; ``switches`` turns the
    mitigations that are code (the order dedupe) on and off.
    """

    def __init__(
        self,
        policy: Callable[[str], Any],
        catalog: Any = None,
        *,
        gateway: PaymentGateway | None = None,
        fulfilment: Fulfilment | None = None,
        switches: Switches | None = None,
    ) -> None:
        self.policy = policy
        self.switches = switches or Switches()
        self.placed: dict[str, str] = {}
        self.duplicates_answered = 0
        self.gateway = gateway or PaymentGateway()
        self.warehouse = Warehouse()
        self.fulfilment = fulfilment or Fulfilment()
        self.pending: dict[str, int] = {}
        self.last_stock: dict[str, int] = {}
        if catalog is not None:
            catalog.provide("checkout.fallback.charge-later", self._charge_later)
            catalog.provide("checkout.fallback.last-stock", self._last_stock)
        self._sku = "mug"

    # -- fallbacks -------------------------------------------------------------------
    def _charge_later(self, *args: Any, **kwargs: Any) -> str:
        return PENDING

    def _last_stock(self, *args: Any, **kwargs: Any) -> int:
        return self.last_stock.get(self._sku, 0)

    # -- use cases -------------------------------------------------------------------
    async def read_stock(self, sku: str) -> int:
        level: int = await self.policy("stock.read").acall(self._live_stock, sku)
        return level

    async def _live_stock(self, sku: str) -> int:
        level = await self.warehouse.level(sku)
        self.last_stock[sku] = level
        return level

    async def checkout(self, order_id: str, amount: int) -> str:
        """Place an order; returns ``paid`` or ``payment-pending``. An order placed
        again (a double click, a client retry) gets the first answer, not a new charge."""
        if order_id in self.placed and self.switches.enabled(ORDER_DEDUPE):
            self.duplicates_answered += 1
            return self.placed[order_id]
        await self.read_stock(self._sku)
        receipt = await self.policy("payments.charge").acall(self.gateway.charge, order_id, amount)
        if receipt == PENDING:
            self.pending[order_id] = amount
        await self.policy("orders.publish").acall(self.fulfilment.receive, order_id)
        status = PENDING if receipt == PENDING else "paid"
        self.placed[order_id] = status
        return status

    async def settle_pending(self) -> bool:
        """Charge the orders accepted as payment pending; True once none is left."""
        for order_id, amount in list(self.pending.items()):
            receipt = await self.policy("payments.charge").acall(
                self.gateway.charge, order_id, amount
            )
            if receipt == PENDING:
                break
            del self.pending[order_id]
        return not self.pending

    def close(self) -> None:
        self.pending.clear()
