"""theme.fm.2.10: row-level security must stop cross-tenant reads. On the embedded store
the app layer enforces what PostgreSQL's FORCED RLS does (the real policies are tested on
PostgreSQL in tests/services/theme/test_rls_postgres.py). (a) A code path that forgets
the tenant predicate reads tenant globex's theme under acme: no rows, a violation counted;
(b) a code path that never sets the tenant fails closed and counts one; (c) a service
configured to connect as the tables' owner (or a BYPASSRLS role) refuses to start; (d) the
tenant is transaction-local, so what runs after a tenant's transaction sees nothing of it.
The sev1 alert fires; ordinary traffic counts no violation."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from services.kit.errors import ServiceError
from services.kit.runtime import Runtime
from services.theme.harness import alerts, open_world, sample_document, settings_for
from services.theme.service import open_theme

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
    run.expect("(a) the attempt is counted", violations(world) == 1, str(violations(world)))

    # (b) a code path that never sets the tenant
    refused = False
    try:
        rows = await scope.read(FORGETFUL, ("secret",))
    except ServiceError:
        refused, rows = True, []
    run.expect(
        "(b) fails closed and is counted",
        refused and not rows and violations(world) == 2,
        f"{rows}",
    )

    # (c) configured as the tables' owner, or with BYPASSRLS: the start-up check refuses
    for update in ({"db_role": "theme_owner"}, {"db_bypassrls": True}):
        root = Path(tempfile.mkdtemp(prefix="theme-owner-"))
        run.rollback(lambda root=root: shutil.rmtree(root, ignore_errors=True))
        settings = settings_for(run, root).model_copy(update=update)
        runtime = await Runtime.open(
            settings, clock=run.clock, policy=run.policy, switches=run.switches
        )
        run.rollback(runtime.aclose)
        started = True
        try:
            opened = await open_theme(settings, runtime=runtime)
            run.rollback(opened.aclose)
        except mitigate.RlsError:
            started = False
        run.expect(f"(c) refuses to start with {update}", not started)

    # (d) a pooled connection reused: the tenant ended with acme's transaction
    async with scope.transaction("acme") as tx:
        mine = await tx.fetchall("SELECT id FROM theme_themes WHERE tenant = 'acme'")
    try:
        after = await scope.read("SELECT tenant, id FROM theme_themes")
    except ServiceError:
        after = []
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
