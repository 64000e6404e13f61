"""Templates shipped with the service: one JSON file per channel and key
(``templates/sms/appointment-reminder.json``), each string a ``$placeholder`` template.

Rendering fails closed: a missing file or a placeholder without a value is an error, never
a blank or partial message (comms.fm.19).
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

__all__ = ["TemplateMissingError", "Templates"]

_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class TemplateMissingError(Exception):
    """The running version ships no such template (or it cannot fill it)."""

    def __init__(self, channel: str, key: str, why: str = "not deployed") -> None:
        super().__init__(f"template {channel}/{key}: {why}")
        self.channel = channel
        self.key = key


class Templates:
    """The template files under ``root``, read at each render so a deploy is seen at once."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, channel: str, key: str) -> Path:
        if not _KEY.match(channel) or not _KEY.match(key):
            raise TemplateMissingError(channel, key, "not a valid template name")
        return self.root / channel / f"{key}.json"

    def exists(self, channel: str, key: str) -> bool:
        try:
            return self.path(channel, key).is_file()
        except TemplateMissingError:
            return False

    def render(self, channel: str, key: str, values: dict[str, Any]) -> Any:
        path = self.path(channel, key)
        try:
            shape = json.loads(path.read_text())
        except FileNotFoundError:
            raise TemplateMissingError(channel, key) from None
        except ValueError as exc:
            raise TemplateMissingError(channel, key, f"not valid JSON: {exc}") from None
        return _fill(shape, {k: str(v) for k, v in values.items()}, channel, key)


def _fill(shape: Any, values: dict[str, str], channel: str, key: str) -> Any:
    if isinstance(shape, str):
        try:
            return string.Template(shape).substitute(values)
        except (KeyError, ValueError) as exc:
            raise TemplateMissingError(channel, key, f"no value for {exc}") from None
    if isinstance(shape, dict):
        return {k: _fill(v, values, channel, key) for k, v in shape.items()}
    if isinstance(shape, list):
        return [_fill(v, values, channel, key) for v in shape]
    return shape
