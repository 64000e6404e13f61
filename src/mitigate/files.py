"""Write a text file atomically with the permissions a plain write would give it.

``tempfile.mkstemp`` creates its file 0600, so a rename into place would leave the
user's output readable only by them. The file gets the mode the target already had, or
0666 less the umask for a new one, before it replaces the target.

.. versionadded:: 0.1
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = ["write_text_atomic"]


def _umask() -> int:
    # os.umask can only be read by setting it; put it straight back.
    current = os.umask(0o022)
    os.umask(current)
    return current


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path``: a reader never sees half a file; normal permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
