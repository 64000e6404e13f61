"""Experiments of the checkout example: one in Python, two declared in catalog.yaml and
driven by the workload below."""

from __future__ import annotations

from mitigate.chaos import Outage, Run, experiment, workload

from .shop import PENDING, Fulfilment, PaymentGateway, Shop


def shop_for(run: Run) -> Shop:
    """One shop per run, built on the run's policies; the ledger counts what matters:
    accepted orders must reach fulfilment, and pending charges must be taken once."""
    shop = run.context.get("shop")
    if shop is None:
        shop = Shop(
            run.policy,
            run.catalog,
            fulfilment=Fulfilment(on_receive=run.ledger.received),
        )
        run.context["shop"] = shop
        run.rollback(shop.close)
    return shop


@workload
async def place_order(run: Run, i: int) -> None:
    shop = shop_for(run)
    order_id = f"order-{i}"
    run.ledger.sent(order_id)
    await shop.checkout(order_id, amount=25)


@experiment("checkout.chaos.gateway-outage")
async def gateway_outage(run: Run) -> None:
    """Payment gateway down for 60 s: orders keep being accepted, every one is charged
    exactly once after the gateway returns."""
    charged = run.ledger
    shop = Shop(run.policy, run.catalog, gateway=PaymentGateway(on_charge=charged.received))
    run.rollback(shop.close)
    for i in range(3):
        outcome = await run.call("checkout", shop.checkout, f"warm-{i}", 25)
        charged.sent(f"warm-{i}")
        await run.steady(f"checkout {i + 1} is paid at once", outcome.value == "paid")

    async with run.fault(Outage("payments.charge"), duration=60):
        statuses = []
        for i in range(50):
            order_id = f"order-{i}"
            charged.sent(order_id)
            outcome = await run.call("checkout", shop.checkout, order_id, 25)
            statuses.append(outcome.value if outcome.ok else "error")
            await run.wait(1)
        run.expect(
            "no checkout failed during the outage",
            "error" not in statuses,
            f"{statuses.count('error')} failed",
        )
        run.expect("orders were accepted as payment pending", PENDING in statuses)

    await run.expect_event("breaker.opened", within=10)
    await run.expect_event("alert.raised", within=15)
    await run.recovered("every pending order charged", shop.settle_pending, within=60, every=1)
    run.expect_no_loss()


@experiment("checkout.chaos.double-submit")
async def double_submit(run: Run) -> None:
    """Every order submitted twice, as a double click or a client retry after a lost
    answer does: each order is charged once and answered the same both times."""
    charged = run.ledger
    shop = Shop(
        run.policy,
        run.catalog,
        gateway=PaymentGateway(on_charge=charged.received),
        switches=run.switches,
    )
    run.rollback(shop.close)
    first = await run.call("checkout", shop.checkout, "warm-0", 25)
    charged.sent("warm-0")
    await run.steady("a single checkout is paid", first.value == "paid")

    answers = []
    for i in range(20):
        order_id = f"order-{i}"
        charged.sent(order_id)
        for _ in range(2):
            outcome = await run.call("checkout", shop.checkout, order_id, 25)
            answers.append(outcome.value if outcome.ok else "error")
        await run.wait(0.5)
    run.expect("every submission answered paid", set(answers) == {"paid"}, str(set(answers)))
    run.expect(
        "each second submission was answered from the first",
        shop.duplicates_answered == 20,
        f"{shop.duplicates_answered} of 20",
    )
    if shop.duplicates_answered:
        run.detected("a second submission of a placed order")
        run.mitigated("order dedupe")
    run.expect_no_loss()
