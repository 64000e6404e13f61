"""One target under atheris (libFuzzer, coverage-guided), driving the same strategies.

Hypothesis turns libFuzzer's bytes into the target's structured inputs
(``fuzz_one_input``), so coverage guidance and the input model work together. A crash
(an exception that is not the target's documented error) ends this process the libFuzzer
way; bench/fuzz.py counts it, keeps the input and starts the harness again.

Run through bench/fuzz.py --engine atheris (needs the ``fuzz`` group:
``uv run --group fuzz python bench/fuzz.py --engine atheris --minutes 5``).
Direct: uv run --group fuzz python bench/fuzz_atheris.py TARGET STATS.json [libFuzzer flags]
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import atheris
    from hypothesis import HealthCheck, given, settings

    with atheris.instrument_imports(include=["mitigate"]):
        # every module a target reaches, instrumented for coverage before first use
        import mitigate
        import mitigate.catalog.load
        import mitigate.catalog.markdown.importer
        import mitigate.guard.archive
        import mitigate.guard.html
        import mitigate.integrity.envelope
        import mitigate.policy.notation
        import mitigate.web.idempotency
        import mitigate.web.signed_urls  # noqa: F401
    from tests.fuzz.targets import TARGETS

    warnings.simplefilter("ignore")
    name, stats_path, flags = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    target = TARGETS[name]
    stats: dict[str, Any] = {"cases": 0, "slowest": 0.0, "slowest_input": ""}

    @settings(database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(target.strategy)
    def one(value: Any) -> None:
        began = time.perf_counter()
        try:
            target.run(value)
        except target.expected:
            pass
        finally:
            took = time.perf_counter() - began
            stats["cases"] += 1
            if took > stats["slowest"]:
                stats["slowest"], stats["slowest_input"] = took, repr(value)[:200]
                stats_path.write_text(json.dumps(stats))
            elif stats["cases"] % 100 == 0:
                stats_path.write_text(json.dumps(stats))

    fuzz_one = one.hypothesis.fuzz_one_input  # type: ignore[attr-defined]

    def test_one_input(data: bytes) -> None:
        fuzz_one(data)

    atheris.Setup([sys.argv[0], *flags], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
