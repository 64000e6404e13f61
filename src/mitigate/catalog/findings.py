"""What is wrong with a catalog, and where: one :class:`Finding` per problem.

Load errors and lint findings share this shape, so the CLI prints both the same way and
``--json`` gives machines one format.

>>> f = Finding("unknown-ref", "error", "no detection rule 'x'", field="failure_modes[0]",
...             file="content.yaml", line=12)
>>> str(f)
"content.yaml:12: error unknown-ref: failure_modes[0]: no detection rule 'x'"

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from mitigate.errors import ConfigError

__all__ = ["CatalogError", "Finding", "Level"]

Level = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: a stable ``code`` (``unknown-ref``), its level, and its place."""

    code: str
    level: Level
    message: str
    field: str = ""
    file: str | None = None
    line: int | None = None

    def __post_init__(self) -> None:
        if self.level not in ("error", "warning"):
            raise ValueError(f"level must be 'error' or 'warning', not {self.level!r}")

    @property
    def where(self) -> str:
        """``file:line`` (or what is known of it)."""
        if self.file is None:
            return f"line {self.line}" if self.line is not None else "catalog"
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def __str__(self) -> str:
        field = f"{self.field}: " if self.field else ""
        return f"{self.where}: {self.level} {self.code}: {field}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CatalogError(ConfigError):
    """A catalog file is invalid; ``findings`` lists every problem with file and line.

    >>> from mitigate.catalog.findings import CatalogError, Finding
    >>> err = CatalogError("c.yaml", [Finding("schema", "error", "not a duration",
    ...                    field="policies.kms.sign.timeout", file="c.yaml", line=7)])
    >>> print(err)
    [MITIGATE.CONFIG.CATALOG] c.yaml: 1 problem; fix it and load again
      c.yaml:7: error schema: policies.kms.sign.timeout: not a duration
    """

    code: ClassVar[str] = "MITIGATE.CONFIG.CATALOG"

    def __init__(self, path: str | None, findings: Iterable[Finding]) -> None:
        self.findings = list(findings)
        count = len(self.findings)
        noun = "problem" if count == 1 else "problems"
        hint = f"fix {'it' if count == 1 else 'them'} and load again"
        super().__init__(path, f"{count} {noun}", hint=hint)

    def _render(self) -> str:
        lines = [super()._render()]
        lines += [f"  {finding}" for finding in self.findings]
        return "\n".join(lines)
