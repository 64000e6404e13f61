"""edge.fm.2.5a: the AI provider is down or slow; the fallback model answers.

The primary model fails twice (answered after retries); answers 500 (the smaller model
answers, marked as the fallback); takes 10 s (the attempt times out and the fallback
answers within the budget); both models down: 503 "AI provider is currently unavailable"
within the budget. The gateway's error alerts fire.
"""

from __future__ import annotations

from services.edge.adapters.ai_provider import ProviderError
from services.edge.ai import FALLBACK, PRIMARY, UNAVAILABLE
from services.edge.harness import alerts, expect_traceable, open_world

from mitigate.chaos import Failure, Run, experiment

BUDGET = 9.0  # ai.primary's 6 s plus ai.fallback's 3 s (catalog)


@experiment("edge.fm.2.5a", failure_modes=["edge.fm.2.5a"])
async def ai_provider_down(run: Run) -> None:
    world = await open_world(run)
    provider = world.edge.fake_ai
    assert provider is not None
    http = world.tenant("acme")

    async def ask() -> tuple[int, dict[str, object], float]:
        start = run.clock.now()
        response = await http.post("/v1/assistant/answer", json={"prompt": "what is new?"})
        return response.status_code, response.json(), run.clock.now() - start

    status, body, _ = await ask()
    await run.steady("the primary model answers", status == 200 and body["model"] == PRIMARY)

    async with run.fault(Failure("ai.primary", times=2, error=ProviderError)):
        status, body, _ = await ask()
    run.expect(
        "two failures: the primary answers after retries",
        status == 200 and body.get("model") == PRIMARY and body.get("fallback") is False,
        str(body),
    )

    provider.set(PRIMARY, "error")
    status, body, took = await ask()
    run.expect(
        "primary 5xx: the fallback model answers, marked as such",
        status == 200 and body.get("model") == FALLBACK and body.get("fallback") is True,
        str(body),
    )
    provider.set(PRIMARY, "slow", latency=10.0)
    status, body, took = await ask()
    run.expect(
        "primary takes 10 s: timed out, the fallback answers within the budget",
        status == 200 and body.get("model") == FALLBACK and took <= BUDGET,
        f"{status} {body} in {took:.1f} s",
    )
    run.expect("the gateway error alert fired", bool(alerts(run, "edge.rule.ai-provider-errors")))

    provider.set(PRIMARY, "down")
    provider.set(FALLBACK, "down")
    status, body, took = await ask()
    run.expect(
        "both down: 503 with a clear code and message, within the budget",
        status == 503
        and body.get("code") == "EDGE.AI.UNAVAILABLE"
        and body.get("message") == UNAVAILABLE
        and took <= BUDGET,
        f"{status} {body} in {took:.1f} s",
    )
    run.expect("the unavailable alert fired", bool(alerts(run, "edge.rule.ai-unavailable")))

    provider.set(PRIMARY, "ok")
    provider.set(FALLBACK, "ok")
    status, body, _ = await ask()
    run.expect(
        "after recovery the primary answers again", status == 200 and body["model"] == PRIMARY
    )
    expect_traceable(run, world)
