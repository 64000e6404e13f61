"""comms.fm.17: an upload over maxUploadSize is refused early, at every layer."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.comms.harness import alerts, open_world

from mitigate.chaos import Run, experiment

RULE = "comms.rule.upload-refused"
HEADERS = {"x-tenant-id": "clinic-a"}
CHUNK = 64 * 1024


class Body:
    """An upload body sent in chunks; counts what the server actually read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        left = self.size
        while left > 0:
            chunk = b"x" * min(CHUNK, left)
            left -= len(chunk)
            self.read += len(chunk)
            yield chunk


@experiment("comms.fm.17", failure_modes=["comms.fm.17"])
async def large_attachment(run: Run) -> None:
    """maxUploadSize + 1 bytes through the API with a Content-Length (refused by the
    gateway before a byte is read), without one (cut by the service within one chunk past
    the cap) and through a pre-signed URL (refused past the signed size); exactly
    maxUploadSize is accepted both ways; no partial object is left."""
    world = await open_world(run)
    cap = world.comms.settings.max_upload_size
    objects = world.comms.runtime.objects

    exact = await world.http.post("/v1/attachments", content=b"x" * cap, headers=HEADERS)
    await run.steady("exactly maxUploadSize is accepted", exact.status_code == 201)
    before = set(await objects.list("attachments/"))

    label = "uploads of maxUploadSize + 1 bytes"
    run.timeline.window(run.clock.now(), None, label)
    declared = Body(cap + 1)
    answer = await world.http.post(
        "/v1/attachments",
        content=declared,
        headers={**HEADERS, "content-length": str(cap + 1)},
    )
    run.expect("413 at the gateway", answer.status_code == 413, answer.text[:200])
    run.expect("before reading the body", declared.read <= CHUNK, str(declared.read))

    streamed = Body(cap + 1)
    answer = await world.http.post("/v1/attachments", content=streamed, headers=HEADERS)
    run.expect(
        "413 in the service for a body without a length",
        answer.status_code == 413,
        answer.text[:200],
    )
    run.expect(
        "bytes read stay within the cap plus one chunk",
        streamed.read <= cap + CHUNK,
        f"{streamed.read} read for a {cap}-byte cap",
    )

    granted = (
        await world.http.post("/v1/attachments/upload-url", json={"size": cap}, headers=HEADERS)
    ).json()
    over = Body(cap + 1)
    answer = await world.http.put(granted["url"], content=over)
    run.expect("413 through the pre-signed URL", answer.status_code == 413, answer.text[:200])
    run.expect("its bytes read stay bounded too", over.read <= cap + CHUNK, str(over.read))
    asked = await world.http.post(
        "/v1/attachments/upload-url", json={"size": cap + 1}, headers=HEADERS
    )
    run.expect("no URL is signed for more than the cap", asked.status_code == 413, asked.text[:200])
    run.timeline.close_window(label, run.clock.now())

    fired = alerts(run, RULE)
    run.expect("refusals alerted", bool(fired))
    if fired:
        run.detected(RULE)
    run.expect("no partial object left", set(await objects.list("attachments/")) == before)
    fine = (
        await world.http.post("/v1/attachments/upload-url", json={"size": cap}, headers=HEADERS)
    ).json()
    answer = await world.http.put(fine["url"], content=Body(cap))
    run.expect(
        "exactly the granted size uploads through its URL",
        answer.status_code == 201,
        answer.text[:200],
    )
    run.mitigated("size cap at the gateway, in the service and in the signed URL")
