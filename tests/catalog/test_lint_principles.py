"""Lint of principles: what they name must exist, an experiment naming an unknown
principle is an error, and a principle no experiment proves is a gap."""

from __future__ import annotations

from pathlib import Path

import pytest

from mitigate import Catalog, CatalogError
from mitigate.catalog.lint import lint_file

CATALOG = """\
service: s
switches:
  - {id: s.guard.deny}
principles:
  - id: s.principle.1
    title: Deny on failure
    mitigated_by: [s.guard.deny]
  - id: s.principle.2
    title: Nothing lost
    experiments: [s.chaos.1]
  - id: s.principle.4
    title: Nobody proves me
  - title: No id either
experiments:
  - {id: s.chaos.1, title: one, fault: custom, principles: [s.principle.1]}
"""


def _lint(tmp_path: Path, text: str) -> list[tuple[str, str, int | None, str]]:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return [(f.code, f.level, f.line, f.message) for f in lint_file(path)]


def test_a_principle_no_experiment_proves_is_a_warning_with_its_line(tmp_path: Path) -> None:
    assert _lint(tmp_path, CATALOG) == [
        (
            "principle-no-experiment",
            "warning",
            11,
            "s.principle.4: no experiment proves it (verify reports it untested)",
        ),
        (
            "principle-no-experiment",
            "warning",
            13,
            "No id either: no experiment proves it (verify reports it untested)",
        ),
    ]


def test_an_experiment_naming_an_unknown_principle_is_an_error(tmp_path: Path) -> None:
    text = CATALOG.replace("principles: [s.principle.1]", "principles: [s.principle.11]")
    errors = [f for f in _lint(tmp_path, text) if f[1] == "error"]
    assert errors == [
        (
            "unknown-ref",
            "error",
            15,
            "no principle 's.principle.11'; did you mean 's.principle.1', 's.principle.4', "
            "'s.principle.2'?",
        )
    ]
    with pytest.raises(CatalogError, match=r"no principle 's\.principle\.11'"):
        Catalog.from_text(text)


def test_what_a_principle_relies_on_must_exist(tmp_path: Path) -> None:
    text = CATALOG.replace(
        "    mitigated_by: [s.guard.deny]",
        "    mitigated_by: [s.guard.dney]\n    detection_rules: [s.rule.x]",
    ).replace("experiments: [s.chaos.1]", "experiments: [s.chaos.9]")
    errors = [(f[0], f[2], f[3]) for f in _lint(tmp_path, text) if f[1] == "error"]
    assert errors == [
        ("unknown-ref", 8, "no detection rule 's.rule.x'"),
        (
            "unknown-ref",
            7,
            "no policy, fallback or switch 's.guard.dney'; did you mean 's.guard.deny'?",
        ),
        ("unknown-ref", 11, "no experiment 's.chaos.9'; did you mean 's.chaos.1'?"),
    ]
