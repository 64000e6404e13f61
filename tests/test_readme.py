"""The README's tour runs as written."""

from __future__ import annotations

import doctest
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_examples_run() -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)  # the tour loads examples/ by relative path, as a user in the repo would
    try:
        result = doctest.testfile(
            str(ROOT / "README.md"),
            module_relative=False,
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        )
    finally:
        os.chdir(cwd)
    assert result.attempted >= 8
    assert result.failed == 0


def test_readme_names_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "uv run mitigate verify" in text
    assert "uv run pytest" in text
