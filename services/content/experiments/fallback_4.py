"""content.fallback.4: AI-generated assistant config -> the stored default config."""

from __future__ import annotations

from services.content.device_client import body_of
from services.content.testbed import Testbed

from mitigate.chaos import Run, experiment


@experiment("content.fallback.4")
async def assistant_default_config(run: Run) -> None:
    """The AI gateway hangs past the attempt timeout: the default config is served,
    marked as default, with no error; the fallback is recorded."""
    bed = await Testbed.open(run)
    ok = await bed.http.get("/v1/courses/c7/assistant-config")
    await run.steady(
        "generated config", ok.status_code == 200 and body_of(ok).get("default") is False
    )

    bed.ai.hang = 120.0  # the gateway times out
    start = run.clock.now()
    response = await bed.http.get("/v1/courses/c7/assistant-config")
    took = run.clock.now() - start
    body = body_of(response)
    run.expect("no error shown: 200", response.status_code == 200, response.text)
    run.expect("the default config is served", body.get("assistant") == "default", str(body))
    run.expect("marked as default", body.get("default") is True)
    run.expect("answered at the 5 s attempt timeout, not after the hang", took <= 5.5, f"{took}s")
    await run.expect_event("fallback.used", target="assistant.config", within=10)
    bed.ai.hang = 0.0
