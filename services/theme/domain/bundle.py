"""The published bundle: a pure function of the version (same input, same bytes).

Canonical JSON (sorted keys, no whitespace, UTF-8) of the document with every block's
markup sanitised, plus the theme id and revision; its SHA-256 is the digest readers check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from .document import ThemeDocument

__all__ = ["Bundle", "build_bundle"]


@dataclass(frozen=True, slots=True)
class Bundle:
    data: bytes
    sha256: str


def build_bundle(
    theme_id: str, revision: int, doc: ThemeDocument, sanitize: Callable[[str], str]
) -> Bundle:
    body = doc.dumped()
    body["blocks"] = [{"id": b.id, "html": sanitize(b.html)} for b in doc.blocks]
    body["theme"] = theme_id
    body["revision"] = revision
    data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return Bundle(data, hashlib.sha256(data).hexdigest())
