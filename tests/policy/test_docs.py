"""The examples in docs/policies/*.md run, page by page, so the docs cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "policies"
HEADINGS = ["## About", "## Usage", "## Defaults", "## Events", "## Errors", "## Anti-patterns"]
PAGES = sorted(DOCS.glob("*.md"))


def test_there_is_a_page_per_policy() -> None:
    names = {page.stem for page in PAGES}
    assert {
        "retry",
        "breaker",
        "timeout",
        "fallback",
        "bulkhead",
        "ratelimit",
        "keyed",
        "pipeline",
        "notation",
    } <= names


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_has_pollys_headings_in_order(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    positions = [text.find(heading) for heading in HEADINGS]
    assert all(p >= 0 for p in positions), page.name
    assert positions == sorted(positions), page.name


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_examples_run(page: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert blocks, f"{page.name} has no example"
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
