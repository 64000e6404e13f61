"""Hostile catalog YAML: every bomb is a located CatalogError, never a crash or a hang.

Aliases are refused (a few hundred bytes of nested aliases expand to gigabytes when the
loader walks them); nesting, size and number magnitude are capped. The CLI exits 2 with
the problem listed, no traceback.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mitigate.catalog.findings import CatalogError
from mitigate.catalog.load import Catalog
from mitigate.catalog.source import read_yaml
from mitigate.cli import app


def _laughs() -> str:
    # nine levels of nine aliases: 387 bytes of YAML, 9**9 strings once expanded
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, 10):
        prev = f"*a{level - 1}"
        text += f"a{level}: &a{level} [{', '.join([prev] * 9)}]\n"
    return text


RETRY = "service: s\npolicies:\n  a.b:\n    retry: {{max: {}, backoff: 1s}}\n"

BOMBS = {
    "alias expansion": (_laughs(), "yaml", 2),
    "recursive alias": ("service: s\npolicies: &p {a.b: *p}\n", "yaml", 2),
    "alias in a merge key": (
        "service: s\nx: &c {timeout: 1}\npolicies:\n  a.b:\n    <<: *c\n",
        "yaml",
        5,
    ),
    "deep nesting": ("service: s\nx: " + "[" * 5000 + "]" * 5000 + "\n", "yaml", 2),
    "deep mappings": ("service: s\nx: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", "yaml", 2),
    "integer over the str limit": (RETRY.format("9" * 5000), "too-large", 4),
    "huge retry count": (RETRY.format(10**14), "too-large", 4),
    "huge retry count as notation": (
        "service: s\npolicies:\n  a.b:\n    retry: {max_retries: 99999999999, base: 1s}\n",
        "too-large",
        4,
    ),
    "huge breaker trip": (
        "service: s\npolicies:\n  a.b:\n    breaker: {trip: '"
        + "9" * 30
        + " fail / 1s', reset: 1s}\n",
        "too-large",
        4,
    ),
    "breaker trip over the str limit": (
        "service: s\npolicies:\n  a.b:\n    breaker: {trip: '"
        + "9" * 5000
        + " fail / 1s', reset: 1s}\n",
        "too-large",
        4,
    ),
    "infinite duration": (
        "service: s\npolicies:\n  a.b: {timeout: '" + "9" * 400 + "s'}\n",
        "too-large",
        3,
    ),
    "duration of centuries": (
        "service: s\npolicies:\n  a.b: {timeout: 99999999999}\n",
        "too-large",
        3,
    ),
    "infinite float": ("service: s\npolicies:\n  a.b: {timeout: .inf}\n", "too-large", 3),
    "sexagesimal blow-up": ("service: s\nx: 1" + ":59" * 3000 + "\n", "too-large", 2),
    "impossible date": ("service: s\nx: 2001-13-45\n", "yaml", 2),
}


@pytest.fixture(autouse=True)
def _memory_cap() -> Iterator[None]:
    # A bomb that slips through must fail this test, not take the machine down.
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_hostile_yaml_is_a_located_catalog_error(name: str) -> None:
    text, code, line = BOMBS[name]
    with pytest.raises(CatalogError) as caught:
        Catalog.from_text(text, path="bomb.yaml")
    found = [(f.code, f.file, f.line) for f in caught.value.findings]
    assert (code, "bomb.yaml", line) in found, found


def test_size_is_capped() -> None:
    text = "service: s\ndescription: '" + "x" * (2 * 1024 * 1024) + "'\n"
    with pytest.raises(CatalogError) as caught:
        read_yaml(text, "big.yaml")
    [finding] = caught.value.findings
    assert finding.code == "yaml" and "too large" in finding.message


def test_node_count_is_capped() -> None:
    text = "service: s\nx: [" + ", ".join(["1"] * 300_000) + "]\n"
    with pytest.raises(CatalogError) as caught:
        read_yaml(text, "many.yaml")
    [finding] = caught.value.findings
    assert (finding.code, finding.line) == ("yaml", 2)


def test_inline_merge_keys_still_work() -> None:
    doc = read_yaml("service: s\npolicies:\n  a.b:\n    <<: {timeout: 2}\n    description: d\n")
    assert doc.data["policies"]["a.b"] == {"timeout": 2, "description": "d"}


def test_a_file_that_is_not_utf8_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"service: caf\xe9\n")
    with pytest.raises(CatalogError) as caught:
        Catalog.load(path)
    assert caught.value.findings[0].code == "io"


@pytest.mark.parametrize("name", ["alias expansion", "deep nesting", "huge retry count"])
@pytest.mark.parametrize("command", [["catalog", "lint"], ["verify"]])
def test_cli_exits_2_without_a_traceback(tmp_path: Path, name: str, command: list[str]) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(BOMBS[name][0])
    result = CliRunner().invoke(app, [*command, str(path)])
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert not isinstance(result.exception, RecursionError | MemoryError | ValueError)
    assert "Traceback" not in result.output


def test_catalog_and_notation_share_their_caps() -> None:
    from mitigate.catalog import limits
    from mitigate.policy import notation

    assert limits.MAX_RETRIES == notation.MAX_RETRIES
    assert limits.MAX_COUNT == notation.MAX_FAILURES


def test_a_control_character_is_a_located_yaml_error() -> None:
    # found by the atheris run: the YAML reader refuses it while the loader is built
    with pytest.raises(CatalogError) as caught:
        read_yaml("service: s\nx: a\x00b\n", "nul.yaml")
    [finding] = caught.value.findings
    assert (finding.code, finding.line) == ("yaml", 2)


def test_an_escape_past_the_last_code_point_is_a_located_yaml_error() -> None:
    # found by bench/fuzz.py: PyYAML's scanner let chr()'s ValueError escape
    with pytest.raises(CatalogError) as caught:
        read_yaml('service: s\nx: "a\\U00607C47b"\n', "escape.yaml")
    [finding] = caught.value.findings
    assert (finding.code, finding.line) == ("yaml", 2)
    assert "escape" in finding.message
