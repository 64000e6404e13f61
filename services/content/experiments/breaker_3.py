"""content.breaker.3: the AI gateway breaker (5 fail / 30s, reset 60s) in front of the
assistant configuration, with the default configuration while it is open."""

from __future__ import annotations

from services.content.device_client import body_of
from services.content.testbed import Testbed

from mitigate.chaos import Run, experiment


@experiment("content.breaker.3")
async def ai_gateway_breaker(run: Run) -> None:
    """AI gateway errors: 4 failures stay closed, the 5th opens; open = default config
    without a gateway call; a half-open probe after 60 s (fails: open again; ok: closed)."""
    bed = await Testbed.open(run)
    ai = bed.ai

    async def config() -> dict:
        response = await bed.http.get("/v1/courses/c1/assistant-config")
        run.expect("assistant config answered 200", response.status_code == 200, response.text)
        return body_of(response)

    first = await config()
    await run.steady("the gateway generates the config", first.get("generated") is True)

    ai.status = 503
    for i in range(4):
        answer = await config()
        run.expect(f"failure {i + 1}: default config served", answer.get("default") is True)
        await run.wait(1)
    run.expect("4 failures in 30 s: breaker still closed", not run.recorder.named("breaker.opened"))
    calls_before_open = ai.calls
    await config()
    await run.expect_event("breaker.opened", target="assistant.config", within=1)
    run.expect("the 5th failure reached the gateway", ai.calls == calls_before_open + 1)

    calls_when_open = ai.calls
    for _ in range(3):
        answer = await config()
        run.expect("open: default config, marked as default", answer.get("default") is True)
        await run.wait(10)
    run.expect(
        "open: the gateway sees zero calls",
        ai.calls == calls_when_open,
        f"{ai.calls - calls_when_open} calls",
    )

    opened = run.recorder.named("breaker.opened", "assistant.config")
    run.require("the breaker opened", bool(opened))
    opened_at = opened[0].at
    await run.wait(max(0.0, opened_at + 60 - run.clock.now()))
    await config()  # the probe, gateway still failing
    run.expect("failed probe: one gateway call", ai.calls == calls_when_open + 1)
    run.expect(
        "failed probe: open for another 60 s",
        len(run.recorder.named("breaker.opened", "assistant.config")) == 2,
    )
    ai.status = 200
    await run.wait(61)
    healed = await config()
    run.expect("after the next 60 s the probe succeeds", healed.get("generated") is True)
    run.expect("breaker closed", bool(run.recorder.named("breaker.closed", "assistant.config")))
