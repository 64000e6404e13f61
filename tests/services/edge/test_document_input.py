"""A document the store could not hold (a NUL, a lone surrogate) is refused as bad input
at the API, 422 in the envelope, never a 500 from the store after the request was taken
(found by schemathesis)."""

from __future__ import annotations

import asyncio

from services.edge.harness import open_world
from tests.services.edge.virtual_run import VirtualRun


async def _scenario() -> None:
    run = VirtualRun()
    world = await open_world(run)
    try:
        http = world.tenant("acme")
        for text in ("a\x00b", "a\ud800b"):
            body = (
                '{"text": "'
                + text.encode("unicode_escape").decode().replace("\\x00", "\\u0000")
                + '"}'
            )
            refused = await http.put(
                "/v1/documents/doc-1", content=body, headers={"content-type": "application/json"}
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] and refused.json()["traceId"]
        fine = await http.put("/v1/documents/doc-1", json={"text": "plain words"})
        assert fine.status_code == 202, fine.text
    finally:
        await run.close()


def test_unstorable_document_text_is_a_422() -> None:
    asyncio.run(_scenario())
