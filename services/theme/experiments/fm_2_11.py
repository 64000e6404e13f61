"""theme.fm.2.11: content block bodies from an XSS corpus are refused at write with a
field error (the block unchanged, a critical alert raised); a script inserted directly in
the database, around the write path, is sanitised on the render path; responses carry
CSP script-src 'self'; a browser's CSP report is accepted and alerts."""

from __future__ import annotations

import json

from services.theme.harness import TENANT, alerts, open_world, sample_document

from mitigate.chaos import Run, experiment

RULE = "theme.rule.unsafe-html"
CORPUS = (
    "<script>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    "<svg><script>alert(1)</script></svg>",
    '<svg onload="alert(1)"></svg>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<iframe src="https://evil.example"></iframe>',
    '<p style="background:url(javascript:alert(1))">x</p>',
)
DANGER = ("<script", "onerror", "onload", "javascript:", "<iframe", "<svg")


def dangerous(html: str) -> list[str]:
    low = html.lower()
    return [d for d in DANGER if d in low]


@experiment("theme.fm.2.11", failure_modes=["theme.fm.2.11"])
async def stored_xss(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    saved = await http.put("/v1/themes/xss", json=sample_document())
    await run.steady("a clean block is saved", saved.status_code == 200)
    etag = saved.headers["etag"]
    before = await world.row("xss")

    for i, payload in enumerate(CORPUS):
        blocks = [{"id": "intro", "html": payload}]
        answer = await http.put(
            "/v1/themes/xss", json=sample_document(blocks=blocks), headers={"if-match": etag}
        )
        body = answer.json()
        paths = [v.get("path") for v in body.get("violations", [])]
        run.expect(
            f"corpus[{i}] refused with a field error",
            answer.status_code == 422 and paths == ["blocks[0].html"],
            f"{answer.status_code} {body}",
        )
        if answer.status_code == 200:
            etag = answer.headers["etag"]
    run.expect("the block is unchanged", await world.row("xss") == before)
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    if fired:
        run.detected(RULE)

    # Around the write path: every corpus entry straight into the stored row.
    doc = sample_document(blocks=[{"id": f"b{i}", "html": p} for i, p in enumerate(CORPUS)])
    await world.execute(
        TENANT,
        "UPDATE theme_themes SET document = ? WHERE tenant = ? AND id = ?",
        (json.dumps(doc), TENANT, "xss"),
    )
    rendered = await http.get("/v1/themes/xss/render")
    blocks = rendered.json().get("blocks", [])
    found = {b["id"]: dangerous(b["html"]) for b in blocks if dangerous(b["html"])}
    csp = rendered.headers.get("content-security-policy", "")
    run.expect("every response carries script-src 'self'", "script-src 'self'" in csp, csp)
    report = {
        "csp-report": {
            "document-uri": "https://book.example/acme",
            "violated-directive": "script-src 'self'",
            "blocked-uri": "inline",
        }
    }
    sent = await http.post(
        "/csp-reports",
        content=json.dumps(report),
        headers={"content-type": "application/csp-report", "x-tenant-id": ""},
    )
    reported = alerts(run, "theme.rule.csp-report")
    run.expect(
        "a CSP report (no tenant) is accepted and raises the alert",
        sent.status_code == 204 and len(reported) == 1,
        f"{sent.status_code} {sent.text} alerts {len(reported)}",
    )
    run.expect(
        "the render path sanitises the directly inserted rows",
        rendered.status_code == 200 and len(blocks) == len(CORPUS) and not found,
        f"{rendered.status_code} {found}",
    )
