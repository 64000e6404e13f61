"""Fuzz every hostile-input parser for a while and report what broke.

Targets live in tests/fuzz/targets.py (the same ones the bounded pytest run uses, here
over their full input space). Each target runs in its own worker process, so a hang or
a memory blow-up is contained:

- crash: an exception that is not the target's documented error type (or a violated
  property); the first inputs of each distinct crash are printed;
- hang: an input still running after ``--per-input`` seconds. The worker's SIGALRM
  catches hangs in Python code; the parent kills a worker whose heartbeat stalls
  (a hang inside C code), records the input and starts a fresh worker;
- slowest input and its time; peak memory of the worker (ru_maxrss) and the largest
  per-input allocation peak seen by tracemalloc on a sample of inputs.

The worker caps its address space (``--memory-mb``) so a bomb is a MemoryError crash,
not a dead machine.

With ``--engine atheris`` each target runs under atheris (libFuzzer's coverage guidance
over the same hypothesis strategies, bench/fuzz_atheris.py); libFuzzer's own timeout and
RSS limit detect hangs and memory blow-ups, and the harness restarts after each crash.

Run: uv run python bench/fuzz.py --minutes 5 [--targets catalog,html] [--jobs 2] [--json]
     uv run --group fuzz python bench/fuzz.py --engine atheris --minutes 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class _HangError(Exception):
    pass


def _on_alarm(signum: int, frame: Any) -> None:
    raise _HangError


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/src/mitigate/" in f.filename] or frames
    if not ours:
        return "?"
    last = ours[-1]
    return f"{last.filename.split('/src/')[-1]}:{last.lineno}"


def _worker(
    name: str, seconds: float, per_input: float, memory_mb: int, seed: int, out: Any
) -> None:
    import tracemalloc

    from hypothesis import HealthCheck, given, settings
    from tests.fuzz.targets import TARGETS

    warnings.simplefilter("ignore")  # zipfile's duplicate-name warnings, by design here
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 1024 * 1024, resource.RLIM_INFINITY))
    signal.signal(signal.SIGALRM, _on_alarm)
    target = TARGETS[name]
    # Warm up (imports, key generation) so the first timed input is not charged for them.
    with contextlib.suppress(Exception):
        target.run(target.strategy.example())
    stats: dict[str, Any] = {"cases": 0, "slowest": 0.0, "slowest_input": "", "traced_peak": 0}
    deadline = time.monotonic() + seconds

    def one(value: Any) -> None:
        if time.monotonic() > deadline:
            return
        shown = repr(value)
        out.send(("start", shown[:400]))
        trace = stats["cases"] % 50 == 0
        if trace:
            tracemalloc.start()
        began = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, per_input)
        try:
            target.run(value)
        except _HangError:
            out.send(("hang", shown[:400], per_input))
        except target.expected:
            pass
        except MemoryError as exc:
            out.send(("crash", "MemoryError", _where(exc), shown[:400]))
        except Exception as exc:
            message = f"{str(exc)[:120]} <- {shown[:280]}"
            out.send(("crash", type(exc).__name__, _where(exc), message))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            took = time.perf_counter() - began
            if trace:
                stats["traced_peak"] = max(stats["traced_peak"], tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
        stats["cases"] += 1
        if took > stats["slowest"]:
            stats["slowest"], stats["slowest_input"] = took, shown[:200]

    chunk = 0
    while time.monotonic() < deadline:
        run = settings(
            max_examples=200,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            phases=[__import__("hypothesis").Phase.generate],
        )(given(target.strategy)(one))
        __import__("random").seed(seed * 1000 + chunk)
        run._hypothesis_internal_use_seed = seed * 1000 + chunk  # type: ignore[attr-defined]
        chunk += 1
        run()
    stats["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.send(("done", stats))


def _fuzz(name: str, seconds: float, args: argparse.Namespace) -> dict[str, Any]:
    """Run one target for ``seconds`` in workers, restarting after a hard hang."""
    result: dict[str, Any] = {
        "target": name, "cases": 0, "crashes": 0, "hangs": 0, "slowest_s": 0.0,
        "slowest_input": "", "maxrss_mb": 0.0, "traced_peak_mb": 0.0, "examples": {},
    }  # fmt: skip
    end = time.monotonic() + seconds
    ctx = mp.get_context("fork")
    seed = args.seed
    while time.monotonic() < end - 0.5:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_worker,
            args=(name, end - time.monotonic(), args.per_input, args.memory_mb, seed, child),
        )
        proc.start()
        child.close()
        current, started, done = "", time.monotonic(), False
        while True:
            if parent.poll(0.2):
                try:
                    msg = parent.recv()
                except EOFError:
                    break
                kind = msg[0]
                if kind == "start":
                    current, started = msg[1], time.monotonic()
                elif kind == "hang":
                    result["hangs"] += 1
                    _example(result, f"hang > {msg[2]}s", msg[1])
                elif kind == "crash":
                    result["crashes"] += 1
                    _example(result, f"{msg[1]} at {msg[2]}", msg[3])
                elif kind == "done":
                    stats = msg[1]
                    result["cases"] += stats["cases"]
                    if stats["slowest"] > result["slowest_s"]:
                        result["slowest_s"], result["slowest_input"] = (
                            stats["slowest"], stats["slowest_input"],
                        )  # fmt: skip
                    result["maxrss_mb"] = max(result["maxrss_mb"], stats["maxrss_kb"] / 1024)
                    result["traced_peak_mb"] = max(
                        result["traced_peak_mb"], stats["traced_peak"] / 1024 / 1024
                    )
                    done = True
                    break
            elif not proc.is_alive():
                break
            elif current and time.monotonic() - started > args.per_input * 3 + 2:
                # the SIGALRM did not fire: stuck in C code. Kill, record, restart.
                proc.kill()
                result["hangs"] += 1
                _example(result, f"hard hang > {args.per_input * 3 + 2:.0f}s", current)
                break
        proc.join(5)
        if not done and proc.exitcode not in (0, None, -signal.SIGKILL):
            result["crashes"] += 1
            _example(result, f"worker died (exit {proc.exitcode})", current)
        seed += 1
        if done:
            break
    return result


_EXCEPTION_LINE = re.compile(r"^(\w+(?:Error|Exception)): (.*)$")
_OUR_FRAME = re.compile(r'File ".*/src/(mitigate/[^"]+)", line (\d+)')


def _fuzz_atheris(name: str, seconds: float, args: argparse.Namespace) -> dict[str, Any]:
    """Run one target under atheris, restarting the harness after each crash."""
    result: dict[str, Any] = {
        "target": name, "cases": 0, "crashes": 0, "hangs": 0, "slowest_s": 0.0,
        "slowest_input": "", "maxrss_mb": 0.0, "traced_peak_mb": 0.0, "examples": {},
    }  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    corpus = work / "corpus"
    corpus.mkdir()
    rng = random.Random(args.seed)
    for i in range(16):  # long seeds: hypothesis needs bytes to draw structured inputs from
        (corpus / f"seed{i}").write_bytes(rng.randbytes(256 * (i + 1)))
    harness = Path(__file__).with_name("fuzz_atheris.py")
    end = time.monotonic() + seconds
    run = 0
    while (left := end - time.monotonic()) > 1:
        stats_path = work / f"stats{run}.json"
        flags = [
            f"-max_total_time={int(left)}", f"-timeout={max(1, int(args.per_input))}",
            f"-rss_limit_mb={args.memory_mb}", "-max_len=8192", f"-seed={args.seed + run + 1}",
            f"-artifact_prefix={work}/", str(corpus),
        ]  # fmt: skip
        # libFuzzer's -max_total_time is not always honoured under atheris: stop the
        # harness ourselves at the deadline (SIGINT: libFuzzer prints its stats and exits).
        proc = subprocess.Popen(
            [sys.executable, str(harness), name, str(stats_path), *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        stopped = 0.0
        try:
            out, err_text = proc.communicate(timeout=left + 2)
        except subprocess.TimeoutExpired:
            stopped = time.time()
            proc.send_signal(signal.SIGINT)
            try:
                out, err_text = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err_text = proc.communicate()
        run += 1
        _add_stats(result, stats_path)
        rss = re.findall(r"rss: (\d+)Mb", err_text)
        if rss:
            result["maxrss_mb"] = max(result["maxrss_mb"], max(map(float, rss)))
        if stopped:
            # a normal end unless the harness had stopped making progress (a hang that
            # libFuzzer's own -timeout did not catch)
            age = stopped - stats_path.stat().st_mtime if stats_path.exists() else left
            if age > args.per_input * 3 + 10:
                result["hangs"] += 1
                lines = err_text.strip().splitlines()
                _example(
                    result, "hard hang (no progress, harness stopped)", lines[-1] if lines else "?"
                )
            break
        if proc.returncode == 0:
            break
        err = out + err_text  # atheris prints the Python traceback on stdout
        artifact = re.findall(r"Test unit written to (\S+)", err)
        where = _OUR_FRAME.findall(err)
        place = f"{where[-1][0]}:{where[-1][1]}" if where else "?"
        if "libFuzzer: timeout" in err:
            result["hangs"] += 1
            _example(result, f"hang > {args.per_input:g}s", artifact[-1] if artifact else "?")
        elif "out-of-memory" in err:
            result["crashes"] += 1
            _example(
                result, f"out of memory (> {args.memory_mb} MB)", artifact[-1] if artifact else "?"
            )
        else:
            lines = [m for line in err.splitlines() if (m := _EXCEPTION_LINE.match(line))]
            kind, message = (
                (lines[-1].group(1), lines[-1].group(2)) if lines else ("exit", err[-200:])
            )
            result["crashes"] += 1
            shown = f"{message[:160]} <- {artifact[-1] if artifact else '?'}"
            _example(result, f"{kind} at {place}", shown)
    return result


def _add_stats(result: dict[str, Any], stats_path: Path) -> None:
    if not stats_path.exists():
        return
    stats = json.loads(stats_path.read_text())
    result["cases"] += stats["cases"]
    if stats["slowest"] > result["slowest_s"]:
        result["slowest_s"], result["slowest_input"] = stats["slowest"], stats["slowest_input"]


def _example(result: dict[str, Any], what: str, shown: str) -> None:
    examples = result["examples"].setdefault(what, {"count": 0, "inputs": []})
    examples["count"] += 1
    if len(examples["inputs"]) < 2:
        examples["inputs"].append(shown[:300])


def main() -> None:
    from tests.fuzz.targets import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="wall time for all targets")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--jobs", type=int, default=2, help="targets fuzzed at once")
    parser.add_argument("--per-input", type=float, default=2.0, help="hang limit (s)")
    parser.add_argument("--memory-mb", type=int, default=1536, help="worker address-space cap")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--engine",
        choices=["hypothesis", "atheris"],
        default="hypothesis",
        help="atheris: coverage-guided (libFuzzer) over the same strategies; needs "
        "`uv run --group fuzz`",
    )
    args = parser.parse_args()
    names = [n for n in args.targets.split(",") if n]
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    rounds = -(-len(names) // max(args.jobs, 1))
    seconds = args.minutes * 60 / rounds
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        engine = _fuzz_atheris if args.engine == "atheris" else _fuzz
        results = list(pool.map(lambda n: engine(n, seconds, args), names))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"fuzz ({args.engine}): {args.minutes:g} min, {seconds:.0f}s per target, "
        f"{args.jobs} at once, hang limit {args.per_input:g}s, "
        f"memory cap {args.memory_mb} MB, seed {args.seed}"
    )
    header = (
        f"{'target':<12} {'cases':>8} {'crashes':>8} {'hangs':>6} {'slowest':>9} "
        f"{'rss MB':>7} {'traced MB':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['target']:<12} {r['cases']:>8} {r['crashes']:>8} {r['hangs']:>6} "
            f"{r['slowest_s']:>8.3f}s {r['maxrss_mb']:>7.0f} {r['traced_peak_mb']:>10.1f}"
        )
    for r in results:
        print(f"\n{r['target']}: slowest input ({r['slowest_s']:.3f}s): {r['slowest_input'][:160]}")
        for what, ex in r["examples"].items():
            print(f"  {ex['count']} x {what}")
            for shown in ex["inputs"]:
                print(f"      e.g. {shown[:240]}")
    total = sum(r["crashes"] + r["hangs"] for r in results)
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", "/tmp/mitigate-fuzz-hypothesis")
    main()
