"""theme.fm.2.10: row-level security must stop cross-tenant reads. On PostgreSQL
(``--backend postgres``) the service's own tables carry FORCED RLS and it connects as
``theme_app``; on the embedded store the app layer enforces the same rules.

(a) A code path that forgets the tenant predicate reads tenant globex's theme under acme:
no rows (on PostgreSQL the database's policy alone returns none; on SQLite the guard drops
it and counts a violation); (b) a code path that never sets the tenant fails closed and
counts one; (c) the service configured to connect as the tables' owner, or as a role that
may bypass RLS, refuses to start (on PostgreSQL the database is asked: a superuser owner
and a real BYPASSRLS role made for the run); (d) the tenant is transaction-local: after
acme's transaction, a pooled connection sees none of acme's rows. The sev1 alert fires;
ordinary traffic counts no violation."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

from services.kit.errors import ServiceError
from services.kit.roles import as_role, grant_app_role
from services.kit.runtime import Runtime
from services.theme.harness import World, alerts, open_world, sample_document, settings_for
from services.theme.service import open_theme
from services.theme.settings import ThemeSettings

import mitigate
from mitigate.chaos import Run, experiment

RULE = "theme.rule.rls-violation"
GLOBEX = {"x-tenant-id": "globex"}
FORGETFUL = "SELECT tenant, id, document FROM theme_themes WHERE id = ?"  # no tenant predicate


def violations(world: object) -> float:
    registry = world.theme.runtime.registry  # type: ignore[attr-defined]
    return sum(
        registry.get_sample_value("theme_rls_violations_total", {"kind": kind}) or 0.0
        for kind in ("cross-tenant", "no-tenant")
    )


@experiment("theme.fm.2.10", failure_modes=["theme.fm.2.10"])
async def cross_tenant(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    scope = world.theme.themes.scope
    store = world.theme.runtime.store
    postgres = store.dialect == "postgres"
    await http.put("/v1/themes/brand", json=sample_document(name="Acme"))
    await http.put("/v1/themes/secret", json=sample_document(name="Globex secret"), headers=GLOBEX)
    own = await http.get("/v1/themes/brand")
    other = await http.get("/v1/themes/secret")
    await run.steady(
        "each tenant reads its own themes, not the other's; no violation counted",
        own.status_code == 200 and other.status_code == 404 and violations(world) == 0,
    )

    # (a) a query that forgets the tenant predicate, under acme's context
    async with scope.as_tenant("acme"):
        leaked = await scope.read(FORGETFUL, ("secret",))
    run.expect("(a) no row of globex is returned", leaked == [], str(leaked))
    if postgres:  # around the app's guard: what the database's policy alone returns
        async with scope.transaction("acme") as tx:
            raw = await tx.fetchall(FORGETFUL, ("secret",))
        run.expect("(a) the database's policy returns none of globex's rows", raw == [], str(raw))
    else:
        run.expect("(a) the attempt is counted", violations(world) == 1, str(violations(world)))

    # (b) a code path that never sets the tenant
    counted = violations(world)
    refused = False
    try:
        rows = await scope.read(FORGETFUL, ("secret",))
    except ServiceError:
        refused, rows = True, []
    run.expect(
        "(b) fails closed and is counted",
        refused and not rows and violations(world) == counted + 1,
        f"{rows}",
    )

    # (c) configured as the tables' owner, or with BYPASSRLS: the start-up check refuses
    for name, settings in await misconfigured(run, world):
        started, code = True, ""
        try:
            runtime = await Runtime.open(
                settings, clock=run.clock, policy=run.policy, switches=run.switches
            )
            run.rollback(runtime.aclose)
            opened = await open_theme(settings, runtime=runtime)
            run.rollback(opened.aclose)
        except mitigate.RlsError as refused:
            started, code = False, str(refused.code)
        run.expect(f"(c) refuses to start {name}", not started, code)

    # (d) a pooled connection reused: the tenant ended with acme's transaction
    async with scope.transaction("acme") as tx:
        mine = await tx.fetchall("SELECT id FROM theme_themes WHERE tenant = 'acme'")
    try:
        after = await scope.read("SELECT tenant, id FROM theme_themes")
    except ServiceError:
        after = []
    if postgres:  # the pool's connections, asked directly: no tenant is left on any
        for _ in range(3):
            async with store.connection() as conn:
                cur = await conn.execute("SELECT tenant, id FROM theme_themes")
                after += await cur.fetchall()
    run.expect(
        "(d) nothing of acme is visible after its transaction",
        bool(mine) and after == [],
        f"{after}",
    )
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised (sev1)", bool(fired), str(len(fired)))
    if fired:
        run.detected(RULE)
    still = await http.get("/v1/themes/brand")
    run.expect("acme's own reads keep working", still.status_code == 200, still.text)
    run.mitigated("tenant guard, fail-closed tenant, start-up check, transaction-local tenant")


async def misconfigured(run: Run, world: World) -> list[tuple[str, ThemeSettings]]:
    """Settings that would connect the service as a role RLS does not bind."""
    settings = world.theme.settings
    if world.theme.runtime.store.dialect != "postgres":
        out = []
        for update in ({"app_role": "theme_owner"}, {"db_bypassrls": True}):
            root = Path(tempfile.mkdtemp(prefix="theme-owner-"))
            run.rollback(lambda root=root: shutil.rmtree(root, ignore_errors=True))
            out.append((f"with {update}", settings_for(run, root).model_copy(update=update)))
        return out
    # On the run's own (migrated) schema: as the tables' owner (the database's answer is
    # checked at start), and as a BYPASSRLS role the run creates, what a DBA's mistake
    # would give the service (refused when the owner grants it its rights).
    owner = settings.store_owner
    role = f"theme_bypass_{uuid.uuid4().hex[:8]}"
    admin = await mitigate.open_store(settings.in_schema(owner), clock=run.clock)
    await admin.execute(f'CREATE ROLE "{role}" LOGIN BYPASSRLS')
    await grant_app_role(admin, settings.schema_name, role)

    async def drop() -> None:
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.aclose()

    run.rollback(drop)
    return [
        ("as the tables' owner", settings.model_copy(update={"store": owner, "store_owner": ""})),
        ("as a BYPASSRLS role", settings.model_copy(update={"store": as_role(owner, role)})),
    ]
