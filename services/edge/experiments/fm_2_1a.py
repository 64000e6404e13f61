"""edge.fm.2.1a: an unhandled error becomes the JSON envelope with a traceId.

A handler raises; another raises while its body streams. Both answer a JSON 500 with
code, message and traceId and no internal detail; the log record with that traceId as
requestId holds the stack; errors_total counts them and the 5xx spike rule fires.
"""

from __future__ import annotations

import json

from services.edge.harness import alerts, expect_traceable, open_world

from mitigate.chaos import Run, experiment

SPIKE = 5


def _envelope(response: object) -> dict[str, object] | None:
    try:
        body = json.loads(getattr(response, "content", b""))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@experiment("edge.fm.2.1a", failure_modes=["edge.fm.2.1a"])
async def uncaught_exception(run: Run) -> None:
    world = await open_world(run)
    http = world.client(**{"x-tenant-id": "acme", "x-ops-token": world.edge.settings.ops_token})
    ok = await http.get("/v1/hello")
    await run.steady("a healthy request answers 200", ok.status_code == 200)

    for path in ("/v1/diagnostics/fail", "/v1/diagnostics/fail-streaming"):
        outcome = await run.call(path, http.get, path)
        if not run.expect(f"{path}: a complete response", outcome.ok, repr(outcome.error)):
            continue  # a truncated transfer: the client got no answer at all
        response = outcome.value
        body = _envelope(response)
        run.expect(f"{path}: 500", response.status_code == 500, str(response.status_code))
        run.expect(
            f"{path}: JSON envelope with code, message and traceId",
            body is not None and all(body.get(k) for k in ("code", "message", "traceId")),
            response.text[:200],
        )
        run.expect(
            f"{path}: no internal detail or stack in the body",
            "internal detail" not in response.text and "Traceback" not in response.text,
        )
        trace = (body or {}).get("traceId")
        stacks = [
            r
            for r in world.logs.records
            if getattr(r, "requestId", None) == trace and r.exc_info is not None
        ]
        run.expect(f"{path}: the log record with that traceId holds the stack", len(stacks) == 1)
        if stacks:
            run.detected(f"log record with traceId {trace}")

    for _ in range(SPIKE):  # a spike of failures
        await http.get("/v1/diagnostics/fail")
    metrics = (await world.client().get("/metrics")).text
    counted = [line for line in metrics.splitlines() if line.startswith("errors_total ")]
    run.expect(
        "errors_total counts every 5xx",
        bool(counted) and float(counted[0].split()[1]) == SPIKE + 2,
        str(counted),
    )
    run.expect("the 5xx spike rule fired", bool(alerts(run, "edge.rule.5xx-spike")))
    after = await http.get("/v1/hello")
    run.expect("the worker keeps serving", after.status_code == 200)
    expect_traceable(run, world)
