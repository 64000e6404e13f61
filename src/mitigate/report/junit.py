"""JUnit XML for CI systems: one ``testcase`` per row, grouped in one ``testsuite`` per
service. A failed row is a ``failure``, an errored one an ``error``, an untested one
``skipped`` with its reason, so a CI dashboard counts them apart.

>>> from mitigate.chaos.experiment import ExperimentResult
>>> xml = junit_xml([ExperimentResult("shop", "shop.fm.1", "t", "chaos", "untested",
...                                   reason="no experiment names this failure mode")])
>>> '<skipped message="no experiment names this failure mode"' in xml
True

.. versionadded:: 0.1
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from mitigate.chaos.experiment import ExperimentResult

__all__ = ["junit_xml"]


def junit_xml(results: Sequence[ExperimentResult], *, name: str = "mitigate verify") -> str:
    rows = [r for r in results if r.mutation is None]
    root = ET.Element("testsuites", {"name": name, **_counts(rows)})
    services: dict[str, list[ExperimentResult]] = {}
    for r in rows:
        services.setdefault(r.service, []).append(r)
    for service, members in services.items():
        suite = ET.SubElement(root, "testsuite", {"name": service, **_counts(members)})
        for r in members:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=service,
                name=r.id,
                time=f"{r.elapsed_s or 0.0:.3f}",
            )
            if r.verdict == "failed":
                ET.SubElement(case, "failure", message=r.why()).text = _details(r)
            elif r.verdict == "error":
                ET.SubElement(case, "error", message=r.why()).text = r.traceback or r.reason
            elif r.verdict == "untested":
                ET.SubElement(case, "skipped", message=r.why())
            else:
                ET.SubElement(case, "system-out").text = r.why()
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _counts(rows: Sequence[ExperimentResult]) -> dict[str, str]:
    return {
        "tests": str(len(rows)),
        "failures": str(sum(r.verdict == "failed" for r in rows)),
        "errors": str(sum(r.verdict == "error" for r in rows)),
        "skipped": str(sum(r.verdict == "untested" for r in rows)),
        "time": f"{sum(r.elapsed_s or 0.0 for r in rows):.3f}",
    }


def _details(r: ExperimentResult) -> str:
    lines = [
        f"{'ok  ' if c.passed else 'FAIL'} {c.name}: {c.detail}".rstrip(": ") for c in r.checks
    ]
    return "\n".join([r.why(), *lines])
