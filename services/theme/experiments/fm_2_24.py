"""theme.fm.2.24: the object store is opened for anonymous writes and a published bundle
overwritten. The next nightly check (virtual clock) reports the drift and resets the
policy; meanwhile the reader rejects the overwritten bundle by digest and serves
last-known-good: no tampered byte served."""

from __future__ import annotations

import stat
from pathlib import Path

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Run, experiment

RULE = "theme.rule.storage-policy-drift"
OPEN = stat.S_IWGRP | stat.S_IWOTH


@experiment("theme.fm.2.24", failure_modes=["theme.fm.2.24"])
async def public_write(run: Run) -> None:
    world = await open_world(run, workers=True)
    http = world.http
    await http.put("/v1/themes/b", json=sample_document())
    await http.post("/v1/themes/b/publish")
    good = await http.get("/v1/themes/b/read")
    await run.steady("the bundle is read", good.status_code == 200)
    key = (await http.get("/v1/themes/b/publication")).json()["objectKey"]
    root = Path(world.theme.runtime.objects.root)  # type: ignore[attr-defined]
    folder = (root / key).parent

    folder.chmod(stat.S_IMODE(folder.stat().st_mode) | OPEN)  # public write
    (root / key).write_bytes(b'{"defaced":true}')  # an anonymous overwrite
    reader = world.theme.reader
    assert reader is not None
    await reader.cache_purge(key)  # the cached copy expires: the next read goes to origin
    read = await http.get("/v1/themes/b/read")
    run.expect(
        "the reader rejects the overwritten bundle and serves last-known-good",
        read.status_code == 200 and read.content == good.content and b"defaced" not in read.content,
        f"{read.status_code} {read.headers.get('x-theme-source')}",
    )
    await run.wait(24 * 3600 + 60)
    drift = run.recorder.named("theme.storage_policy_drift")
    run.expect(
        "the nightly check reports the drift",
        any(getattr(d, "path", "") == str(folder.relative_to(root)) for d in drift),
        str([getattr(d, "path", "") for d in drift]),
    )
    run.expect(
        "the policy is reset to the declared one",
        not stat.S_IMODE(folder.stat().st_mode) & OPEN,
        oct(folder.stat().st_mode),
    )
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    if fired:
        run.detected(RULE)
