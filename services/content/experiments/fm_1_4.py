"""content.fm.1.4: a malicious SCORM zip is quarantined and the tenant's importer blocked.

Zips with (a) a ``../`` traversal entry, (b) an absolute path and a symlink entry, (c) a
script calling ``eval``, (d) a script using network APIs, from tenant acme; a clean zip
from tenant globex. Each hostile zip is flagged with its reason code before anything is
extracted (no file written outside the quarantine), kept byte for byte in the quarantine,
raises a security alert and blocks acme's importer ("blocked pending security review")
until an operator clears it; globex imports normally.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from services.content.harness import open_world
from services.content.hostile import HOSTILE, clean_zip
from services.content.testbed import expect_detection

from mitigate.chaos import Run, experiment

OPS = {"x-ops-token": "local-operator"}


@experiment("content.fm.1.4", failure_modes=["content.fm.1.4"])
async def malicious_zip(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    zip_headers = {"content-type": "application/zip"}
    ok = await http.post("/v1/imports", content=clean_zip(), headers=zip_headers)
    await run.steady("a clean import works", ok.status_code == 201)
    importer = world.content.importer

    for variant, code, data in HOSTILE:
        before = await _files(world)
        t0 = run.clock.now()
        answer = await http.post("/v1/imports", content=data, headers=zip_headers)
        body = answer.json()
        run.expect(
            f"({variant}) refused with {code}",
            answer.status_code == 422 and body.get("code") == code,
            f"{answer.status_code} {body}",
        )
        run.expect(f"({variant}) nothing extracted", await _files(world) == before)
        digest = hashlib.sha256(data).hexdigest()
        held = [r for r in importer.guard.quarantine.records("acme") if r.sha256 == digest]
        run.expect(
            f"({variant}) quarantined byte-identical",
            len(held) == 1 and _sha256(held[0].path) == digest,
            str(held),
        )
        alerts = [
            e
            for name in ("guard.archive_quarantined", "guard.importer_blocked")
            for e in run.recorder.named(name)
            if e.at >= t0
        ]
        run.expect(f"({variant}) security alert raised", len(alerts) >= 1, str(len(alerts)))

        again = await http.post("/v1/imports", content=clean_zip(), headers=zip_headers)
        run.expect(
            f"({variant}) acme's importer blocked pending security review",
            again.status_code == 423 and "security review" in again.json().get("message", ""),
            f"{again.status_code} {again.text}",
        )
        other = await http.post(
            "/v1/imports", content=clean_zip(), headers={**zip_headers, "x-tenant-id": "globex"}
        )
        run.expect(f"({variant}) globex imports normally", other.status_code == 201, other.text)
        cleared = await http.post("/ops/importer-blocks/acme/clear", headers=OPS)
        run.require("the operator clears the block", cleared.status_code == 200, cleared.text)

    quarantined = run.recorder.named("guard.archive_quarantined")
    run.expect("one quarantine event per hostile zip", len(quarantined) == len(HOSTILE))
    after = await http.post("/v1/imports", content=clean_zip(), headers=zip_headers)
    run.expect("after review, acme imports again", after.status_code == 201, after.text)
    expect_detection(run, "content.fm.1.4")


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


async def _files(world) -> list[str]:
    """Every object and every file under the service's folder outside the quarantine."""
    root = world.root
    quarantine = root / "content-imports" / "quarantine"
    files = [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and quarantine not in p.parents and not p.name.startswith("content.db")
    ]
    return sorted(files + await world.content.runtime.objects.list(""))
