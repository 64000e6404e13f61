"""docs/catalog.md: its examples run, and it documents every lint code."""

from __future__ import annotations

import doctest
from pathlib import Path

from mitigate.catalog.lint import CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"


def test_examples_run() -> None:
    result = doctest.testfile(str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10
    assert result.failed == 0


def test_every_lint_code_is_documented() -> None:
    text = DOC.read_text()
    for code in CODES:
        assert f"| `{code}` |" in text, code
