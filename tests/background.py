"""Long `mitigate verify` runs started when the test session starts, so that their real
seconds (rows on the real clock, rows paced by real servers, whole-catalog runs) overlap
the rest of the suite instead of adding to it.

A test declares its run with ``@background_run("name", argv...)`` (argv after
``mitigate``); when such a test is collected, the run starts as a subprocess right after
collection (``pytest_collection_finish`` in tests/conftest.py); the test then calls
``finished("name")`` for the exit code, output and journal. Runs of tests that are not
collected never start. Each run writes its journal to its own folder (``--out``).

Runs on the real clock mostly wait, and start at once. Runs in virtual time burn CPU
(``cpu=True``): one at a time, beside the suite's own process, so the machine's two cores
are both busy but neither the suite nor a real-clock run is starved.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MITIGATE = Path(sys.executable).parent / "mitigate"
MARKER = "background_run"


def background_run(name: str, *argv: str, cpu: bool = False) -> pytest.MarkDecorator:
    """Mark a test as reading the result of ``mitigate <argv> --out <its folder>``;
    ``cpu``: the run is busy, not waiting (virtual time), and queues behind the others."""
    return getattr(pytest.mark, MARKER)(name, *argv, cpu=cpu)


@dataclass
class Finished:
    returncode: int
    output: str
    out: Path

    @property
    def journal(self) -> dict[str, Any]:
        return json.loads((self.out / "verify.json").read_text())  # type: ignore[no-any-return]


@dataclass
class _Running:
    argv: list[str]
    out: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    done: Finished | None = None
    started: threading.Event = field(default_factory=threading.Event)

    def launch(self) -> None:
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [str(MITIGATE), *self.argv, "--out", str(self.out)],
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.started.set()


@dataclass
class _Runs:
    running: dict[str, _Running] = field(default_factory=dict)
    queued: list[_Running] = field(default_factory=list)  # cpu runs, one at a time
    lock: threading.Lock = field(default_factory=threading.Lock)
    feeder: threading.Thread | None = None

    def start(self, name: str, argv: list[str], *, cpu: bool) -> None:
        if name in self.running:
            return
        folder = Path(tempfile.mkdtemp(prefix=f"bg-{name}-"))
        run = _Running(argv, folder / "out", folder / "output.txt")
        self.running[name] = run
        if not cpu:
            run.launch()
            return
        with self.lock:
            self.queued.append(run)
        if self.feeder is None:
            self.feeder = threading.Thread(target=self._feed, name="background-runs", daemon=True)
            self.feeder.start()

    def _feed(self) -> None:
        while True:
            with self.lock:
                if not self.queued:
                    self.feeder = None
                    return
                run = self.queued.pop(0)
            run.launch()
            assert run.process is not None
            run.process.wait()

    def finished(self, name: str, timeout: float) -> Finished:
        run = self.running.get(name)
        if run is None:
            raise LookupError(f"no background run {name!r} was started (is the test marked?)")
        if run.done is None:
            # A queued run may not have started yet: its wait counts from its start.
            run.started.wait()
            assert run.process is not None
            try:
                code = run.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait()
                raise AssertionError(f"{name} did not finish in {timeout:g}s") from None
            run.done = Finished(code, run.log.read_text(errors="replace"), run.out)
        return run.done

    def stop_all(self) -> None:
        with self.lock:
            self.queued.clear()
        for run in self.running.values():
            if run.process is not None and run.process.poll() is None:
                run.process.kill()
                run.process.wait()


RUNS = _Runs()


def start_marked(items: list[pytest.Item]) -> None:
    """Start the runs the collected tests are marked with (each name once)."""
    for item in items:
        for marker in item.iter_markers(MARKER):
            name, *argv = marker.args
            RUNS.start(name, list(argv), cpu=bool(marker.kwargs.get("cpu")))


def finished(name: str, *, timeout: float = 900.0) -> Finished:
    """Wait for the run ``name`` (started at collection) and return what it left."""
    return RUNS.finished(name, timeout)
