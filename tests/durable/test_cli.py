"""``mitigate saga list|show|retry|compensate`` against a real SQLite store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from mitigate.cli import app
from mitigate.durable.saga import Saga, Step, StepContext
from mitigate.durable.saga_worker import SagaWorker
from mitigate.durable.sqlite import SqliteStore

runner = CliRunner(env={"COLUMNS": "220"})


def _fail(ctx: StepContext) -> None:
    raise RuntimeError("bundle broke")


def _undo_fails(ctx: StepContext) -> None:
    raise ConnectionError("catalog unreachable")


SAGA = Saga(
    "authoring.publish",
    [
        Step("catalog", lambda ctx: "cv-1", _undo_fails),
        Step("bundle", _fail),
    ],
)
OK = Saga("content.publish", [Step("package", lambda ctx: {"p": 1})])


def _seed(path: Path) -> None:
    async def go() -> None:
        store = await SqliteStore.open(path)
        async with SagaWorker(store, [SAGA, OK]) as worker:
            await worker.execute(SAGA, {"draft": "d1"}, id="parked")
            await worker.execute(OK, {"draft": "d2"}, id="done")
            await worker.start(OK, {"draft": "d3"}, id="waiting")
        await store.aclose()

    asyncio.run(go())


def test_list_filters_by_state_and_prints_json(tmp_path: Path) -> None:
    _seed(tmp_path / "s.db")
    url = f"sqlite:///{tmp_path}/s.db"
    result = runner.invoke(app, ["saga", "list", "--store", url, "--json"])
    assert result.exit_code == 0, result.output
    assert {s["id"] for s in json.loads(result.output)["sagas"]} == {"parked", "done", "waiting"}
    result = runner.invoke(
        app, ["saga", "list", "--store", url, "--state", "compensation_failed", "--json"]
    )
    sagas = json.loads(result.output)["sagas"]
    assert [s["id"] for s in sagas] == ["parked"]
    assert (
        sagas[0]["error"]
        == "compensation of step catalog failed: ConnectionError: catalog unreachable"
    )
    result = runner.invoke(app, ["saga", "list", "--store", url, "--older-than", "1h", "--json"])
    assert json.loads(result.output)["sagas"] == []
    result = runner.invoke(app, ["saga", "list", "--store", url])
    assert result.exit_code == 0 and "compensation_failed" in result.output
    assert runner.invoke(app, ["saga", "list", "--store", url, "--state", "odd"]).exit_code == 2
    assert runner.invoke(app, ["saga", "list", "--store", url, "--older-than", "x"]).exit_code == 2


def test_show_retry_and_compensate(tmp_path: Path) -> None:
    _seed(tmp_path / "s.db")
    url = f"sqlite:///{tmp_path}/s.db"
    result = runner.invoke(app, ["saga", "show", "parked", "--store", url])
    assert result.exit_code == 0, result.output
    assert "undo failed: ConnectionError" in result.output and "cv-1" in result.output
    shown = json.loads(
        runner.invoke(app, ["saga", "show", "parked", "--store", url, "--json"]).output
    )
    assert shown["state"] == "compensation_failed" and shown["steps"][0]["result"] == "cv-1"
    assert runner.invoke(app, ["saga", "show", "nope", "--store", url]).exit_code == 1

    retried = runner.invoke(app, ["saga", "retry", "parked", "--store", url, "--json"])
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.output)["state"] == "compensating"
    assert runner.invoke(app, ["saga", "retry", "done", "--store", url]).exit_code == 1

    compensated = runner.invoke(app, ["saga", "compensate", "waiting", "--store", url])
    assert compensated.exit_code == 0 and "compensation queued" in compensated.output
    assert runner.invoke(app, ["saga", "compensate", "done", "--store", url]).exit_code == 1
