"""``mitigate verify`` imports each service folder as its own package: two services with
same-named modules run side by side, experiments may import relatively, and any catalog
file path is accepted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mitigate.chaos.runner import Runner, discover, service_package
from mitigate.cli import app

EXPERIMENT = """\
from mitigate.chaos import experiment

from .domain import NAME


@experiment("{service}.names", failure_modes=["{service}.fm.1"])
async def names(run):
    run.detected("a probe")
    run.expect("its own domain module", NAME == "{service}", NAME)
"""


def _service(root: Path, name: str, *, package: bool = False) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    if package:
        (folder / "__init__.py").write_text("")
    (folder / "domain.py").write_text(f"NAME = {name!r}\n")
    (folder / "experiments.py").write_text(EXPERIMENT.format(service=name))
    return folder


def _verify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["verify", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout + result.stderr


def test_two_services_with_same_named_modules_in_one_run(tmp_path: Path) -> None:
    alpha = _service(tmp_path / "services", "alpha")
    beta = _service(tmp_path / "services", "beta")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["verify", str(alpha), str(beta), "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    verdicts = {(r["service"], r["id"], r["verdict"]) for r in json.loads(result.stdout)["results"]}
    assert verdicts == {
        ("alpha", "alpha.names", "verified"),
        ("beta", "beta.names", "verified"),
    }
    # Neither service's folder leaked onto sys.path, and nothing is called plain "domain".
    assert str(alpha) not in sys.path and str(beta) not in sys.path
    assert "domain" not in sys.modules or not str(
        getattr(sys.modules["domain"], "__file__", "")
    ).startswith(str(tmp_path))


def test_a_folder_of_services_runs_them_all(tmp_path: Path) -> None:
    for name in ("one", "two", "three"):
        _service(tmp_path / "fleet", name)
    suites = discover([tmp_path / "fleet"])
    assert sorted(s.service for s in suites) == ["one", "three", "two"]
    runner = Runner()
    assert all(r.verdict == "verified" for s in suites for r in runner.run_suite(s))


def test_an_importable_package_is_imported_under_its_own_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    (root / "platformx").mkdir(parents=True)
    (root / "platformx" / "__init__.py").write_text("")
    content = _service(root / "platformx", "content", package=True)
    monkeypatch.syspath_prepend(str(root))
    assert service_package(content) == "platformx.content"
    [suite] = discover([content])
    assert sys.modules["platformx.content.experiments"].__file__ == str(content / "experiments.py")
    assert Runner().run_suite(suite)[0].verdict == "verified"


def test_a_package_not_on_sys_path_gets_a_package_of_its_own(tmp_path: Path) -> None:
    first = _service(tmp_path / "a", "content", package=True)
    second = _service(tmp_path / "b", "content", package=True)
    (second / "domain.py").write_text("NAME = 'not content'\n")
    assert service_package(first) != service_package(second)
    [one] = discover([first])
    [two] = discover([second])
    assert Runner().run_suite(one)[0].verdict == "verified"
    assert Runner().run_suite(two)[0].verdict == "failed"  # its own domain, not the first's


def test_an_experiments_package_with_relative_imports(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    (folder / "experiments").mkdir(parents=True)
    (folder / "domain.py").write_text("NAME = 'shop'\n")
    (folder / "experiments" / "helpers.py").write_text(
        "from ..domain import NAME\n\ndef expected():\n    return NAME\n"
    )
    (folder / "experiments" / "names.py").write_text(
        "from mitigate.chaos import experiment\n"
        "from .helpers import expected\n"
        "from ..domain import NAME\n\n"
        "@experiment('shop.names', failure_modes=['shop.fm.1'])\n"
        "async def names(run):\n"
        "    run.detected('a probe')\n"
        "    run.expect('relative imports', NAME == expected() == 'shop', NAME)\n"
    )
    # A module named by its row id (dots in the name) is found too.
    (folder / "experiments" / "shop.fm.2.py").write_text(
        "from mitigate.chaos import experiment\n"
        "from ..domain import NAME\n\n"
        "@experiment('shop.fm.2', failure_modes=['shop.fm.2'])\n"
        "async def second(run):\n"
        "    run.detected('a probe')\n"
        "    run.expect('named by its id', NAME == 'shop')\n"
    )
    [suite] = discover([folder])
    assert sorted(s.id for s in suite.experiments) == ["shop.fm.2", "shop.names"]
    assert {r.id: r.verdict for r in Runner().run_suite(suite)} == {
        "shop.names": "verified",
        "shop.fm.2": "verified",
    }


def test_any_catalog_file_path_is_accepted(tmp_path: Path) -> None:
    folder = tmp_path / "catalogs"
    folder.mkdir()
    (folder / "payments.yaml").write_text(
        "service: payments\n"
        "policies:\n  card.capture: {timeout: 1s}\n"
        "failure_modes:\n  - {id: payments.fm.1, title: slow, experiments: [payments.chaos.1]}\n"
        "experiments:\n"
        "  - id: payments.chaos.1\n    title: slow\n    fault: latency\n"
        "    target: card.capture\n    latency: 2s\n    duration: 5s\n"
        "    verify: [detected by timeout.fired within 1s]\n    failure_modes: [payments.fm.1]\n"
    )
    (folder / "search.yml").write_text("service: search\n")
    suites = discover([folder / "payments.yaml", folder / "search.yml"])
    assert [(s.service, s.catalog_path) for s in suites] == [
        ("payments", folder / "payments.yaml"),
        ("search", folder / "search.yml"),
    ]
    # Same file twice is one suite.
    assert len(discover([folder / "payments.yaml", str(folder / "payments.yaml")])) == 1


def test_a_service_that_cannot_import_is_bad_input_with_the_hint(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "experiments.py").write_text("from domain import NAME\n")
    code, text = _verify(str(folder), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "ModuleNotFoundError" in text and "import its own modules relatively" in text
