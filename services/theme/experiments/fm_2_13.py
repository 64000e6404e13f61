"""theme.fm.2.13: preview-link brute force. The 61st look-up of one token within a minute
gets 429; the 601st for one tenant within a minute gets 429 while another tenant's link
works; an address with 100 failed look-ups within a minute is blocked, one with 99 is
not; revoke-all invalidates the tenant's links."""

from __future__ import annotations

import secrets

import httpx
from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Run, experiment


@experiment("theme.fm.2.13", failure_modes=["theme.fm.2.13"])
async def preview_guessing(run: Run) -> None:
    world = await open_world(run)
    http = world.http

    def visitor(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=world.theme.app, client=(ip, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://theme.test")
        run.rollback(client.aclose)
        return client

    await http.put("/v1/themes/p", json=sample_document())
    await http.put("/v1/themes/p", json=sample_document(), headers={"x-tenant-id": "globex"})
    links = []
    for _ in range(11):
        made = await http.post("/v1/themes/p/preview-links")
        links.append(made.json()["token"])
    other = (
        await http.post("/v1/themes/p/preview-links", headers={"x-tenant-id": "globex"})
    ).json()["token"]
    browser = visitor("127.0.0.11")
    first = await browser.get(f"/preview/{links[0]}")
    await run.steady("a preview link opens", first.status_code == 200)

    codes = [(await browser.get(f"/preview/{links[1]}")).status_code for _ in range(61)]
    run.expect(
        "61st look-up of one token within a minute: 429",
        codes[:60] == [200] * 60 and codes[60] == 429,
        f"{codes.count(200)} x 200, last {codes[-1]}",
    )
    # The tenant: 1 + 60 counted so far (the 429 stopped before the tenant's count).
    seen = 61
    for token in links[2:11]:
        for _ in range(60):
            if seen == 600:
                break
            answer = await browser.get(f"/preview/{token}")
            seen += answer.status_code == 200
    last = await browser.get(f"/preview/{links[10]}")
    run.expect(
        "601st for the tenant within a minute: 429",
        seen == 600 and last.status_code == 429,
        f"{seen} {last.status_code} {last.text}",
    )
    elsewhere = await browser.get(f"/preview/{other}")
    run.expect(
        "another tenant's link works meanwhile", elsewhere.status_code == 200, elsewhere.text
    )
    fired = alerts(run, "theme.rule.preview-throttled")
    run.expect("theme.rule.preview-throttled raised alert.raised", len(fired) >= 1)

    await run.wait(61.0)
    bot, near = visitor("127.0.0.66"), visitor("127.0.0.77")
    for _ in range(99):
        await bot.get(f"/preview/{secrets.token_urlsafe(32)}")
        await near.get(f"/preview/{secrets.token_urlsafe(32)}")
    run.expect(
        "99 failures: not blocked", (await near.get(f"/preview/{links[0]}")).status_code == 200
    )
    await bot.get(f"/preview/{secrets.token_urlsafe(32)}")
    blocked = await bot.get(f"/preview/{links[0]}")
    run.expect("100 failures within 1 min: blocked", blocked.status_code == 403, blocked.text)
    guessing = alerts(run, "theme.rule.preview-guessing")
    run.expect("theme.rule.preview-guessing raised alert.raised", len(guessing) >= 1)
    if guessing:
        run.detected("theme.rule.preview-guessing")
    run.expect("others unaffected", (await browser.get(f"/preview/{other}")).status_code == 200)

    revoked = await http.post("/v1/preview-links/revoke-all")
    gone = await near.get(f"/preview/{links[0]}")
    run.expect(
        "revoke-all invalidates existing links",
        revoked.status_code == 200 and gone.status_code == 404,
        f"{revoked.text} {gone.status_code}",
    )
