"""What a version must satisfy to be published, and which parts of it use a locale.

Pure functions over the document: the publish use case runs them before it opens any
transaction, so a refused publish writes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .document import ThemeDocument

__all__ = ["Violation", "locale_references", "publish_violations"]

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
REQUIRED_COLORS = ("primary", "background", "text")


@dataclass(frozen=True, slots=True)
class Violation:
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def publish_violations(doc: ThemeDocument) -> list[Violation]:
    """Every field-level problem that blocks a publish (empty: publishable)."""
    found: list[Violation] = []
    if not doc.name.strip():
        found.append(Violation("name", "a published theme needs a name"))
    for color in REQUIRED_COLORS:
        if color not in doc.colors:
            found.append(Violation(f"colors.{color}", "required"))
    for key, value in sorted(doc.colors.items()):
        if not _HEX.match(value):
            found.append(Violation(f"colors.{key}", f"{value!r} is not a #rrggbb colour"))
    if doc.default_locale not in doc.locales:
        found.append(
            Violation("defaultLocale", f"{doc.default_locale!r} is not one of the locales")
        )
    for i, cta in enumerate(doc.ctas):
        if cta.locale not in doc.locales:
            found.append(Violation(f"ctas[{i}].locale", f"{cta.locale!r} is not a locale"))
        elif cta.key not in doc.copy_.get(cta.locale, {}):
            found.append(
                Violation(f"ctas[{i}].key", f"no copy {cta.key!r} in locale {cta.locale!r}")
            )
    return found


def locale_references(doc: ThemeDocument, locale: str) -> list[str]:
    """The paths that use ``locale``'s copy (a locale cannot go while any remain)."""
    refs = [f"ctas[{i}] ({cta.id}: {cta.key})" for i, cta in enumerate(doc.ctas)]
    return [r for r, cta in zip(refs, doc.ctas, strict=True) if cta.locale == locale]
