"""Files written with -o get the permissions a plain write would give them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mitigate.cli import app
from mitigate.files import write_text_atomic

runner = CliRunner()
EXAMPLE = Path(__file__).parents[2] / "examples" / "catalogs" / "content.yaml"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("command", ["alerts", "render"])
def test_catalog_output_is_0644_under_umask_022(
    tmp_path: Path, umask_022: None, command: str
) -> None:
    out = tmp_path / "out.yaml"
    result = runner.invoke(app, ["catalog", command, str(EXAMPLE), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o644


def test_the_umask_is_respected(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_text_atomic(tmp_path / "private.txt", "x\n")
    finally:
        os.umask(old)
    assert mode(tmp_path / "private.txt") == 0o600


def test_an_existing_target_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    out = tmp_path / "alerts.yaml"
    out.write_text("old\n")
    out.chmod(0o640)
    result = runner.invoke(app, ["catalog", "alerts", str(EXAMPLE), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o640
    assert "groups:" in out.read_text()
