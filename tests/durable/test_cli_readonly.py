"""Read-only commands never leave a database file behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mitigate.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args", [["saga", "list"], ["saga", "show", "s-1"], ["dlq", "list"], ["dlq", "show", "1"]]
)
def test_a_missing_sqlite_store_is_an_error_not_a_new_file(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "absent.db"
    result = runner.invoke(app, [*args, "--store", f"sqlite:///{db}"])
    assert result.exit_code == 2, result.output
    assert "no store at" in result.output
    assert "MITIGATE.CONFIG.STORE" in result.output
    assert not db.exists()
    assert list(tmp_path.iterdir()) == []


def test_the_default_store_is_not_created_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MITIGATE_STORE", raising=False)
    result = runner.invoke(app, ["saga", "list"])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "mitigate.db").exists()


def test_an_existing_store_still_lists(tmp_path: Path) -> None:
    import asyncio

    from mitigate.durable import open_store

    db = tmp_path / "there.db"

    async def create() -> None:
        store = await open_store(f"sqlite:///{db}")
        await store.aclose()

    asyncio.run(create())
    result = runner.invoke(app, ["saga", "list", "--store", f"sqlite:///{db}"])
    assert result.exit_code == 0, result.output
