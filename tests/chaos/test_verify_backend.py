"""``mitigate verify --backend``: validated, given to every run, recorded in the journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mitigate import ConfigError
from mitigate.chaos import Run, experiment
from mitigate.chaos.backend import parse_backend
from mitigate.chaos.experiment import spec_of
from mitigate.chaos.runner import Runner, Suite
from mitigate.cli import app

SERVICE = """\
from mitigate.chaos import experiment

@experiment("probe.backend", failure_modes=["probe.fm.1"])
async def backend(run):
    run.detected("a probe")
    run.expect("on postgres", run.uses("postgres"), run.backend)
    run.expect("not embedded", not run.uses("embedded"), run.backend)
"""


def _verify(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["verify", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def _service(tmp_path: Path) -> Path:
    folder = tmp_path / "probe"
    folder.mkdir()
    (folder / "experiments.py").write_text(SERVICE)
    return folder


def test_the_backend_reaches_the_run_and_the_journal(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, _ = _verify(
        str(_service(tmp_path)), "--backend", "redis+nats+postgres", "--json", "--out", str(out)
    )
    assert code == 0, stdout
    assert json.loads(stdout)["backend"] == "postgres+nats+redis"
    journal = json.loads((out / "verify.json").read_text())
    assert journal["backend"] == "postgres+nats+redis"
    assert [r["backend"] for r in journal["results"]] == ["postgres+nats+redis"]


def test_the_default_backend_is_embedded(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, _ = _verify(str(_service(tmp_path)), "--json", "--out", str(out))
    assert code == 1  # the probe asks for postgres: on embedded it must fail
    journal = json.loads((out / "verify.json").read_text())
    assert journal["backend"] == "embedded"
    [row] = journal["results"]
    assert row["verdict"] == "failed" and "on postgres: embedded" in row["reason"]


@pytest.mark.parametrize("value", ["postgres+mongo", "mysql", "", "embedded+redis", "nats+nats"])
def test_an_unknown_backend_is_bad_input(tmp_path: Path, value: str) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = _verify(str(_service(tmp_path)), "--backend", value, "--out", str(out))
    assert code == 2
    assert "MITIGATE.CONFIG.BACKEND" in stderr + stdout
    assert not out.exists()  # refused before anything ran or was written


def test_parse_backend_normalises_and_refuses() -> None:
    assert parse_backend(" Postgres+REDIS ") == "postgres+redis"
    assert parse_backend("s3+postgres+nats+redis") == "postgres+nats+redis+s3"
    with pytest.raises(ConfigError, match="unknown backend 'kafka'") as info:
        parse_backend("nats+kafka")
    assert info.value.code == "MITIGATE.CONFIG.BACKEND"


def test_runner_refuses_a_bad_backend_and_gives_a_good_one_to_runs() -> None:
    with pytest.raises(ConfigError):
        Runner(backend="oracle")

    @experiment("unit.backend")
    async def seen(run: Run) -> None:
        run.expect("backend", run.backend == "postgres", run.backend)

    spec = spec_of(seen)
    assert spec is not None
    suite = Suite(service="unit", root=Path("."), experiments=[spec])
    result = Runner(backend="postgres").run_one(suite, spec)
    assert (result.verdict, result.backend) == ("verified", "postgres")
