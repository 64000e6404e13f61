"""Corruption of data at rest: damage a stored file and get back a way to undo it.

An experiment registers the undo as a rollback, so the store is whole again however the
experiment ends.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "bundle.bin"
>>> _ = path.write_bytes(b"payload")
>>> restore = corrupt_file(path, random=lambda: 0.0)
>>> path.read_bytes()
b'qayload'
>>> restore(); path.read_bytes()
b'payload'

.. versionadded:: 0.1
"""

from __future__ import annotations

import os
import random as _random
from collections.abc import Callable

from mitigate.chaos.faults import flip_bytes

__all__ = ["corrupt_file"]


def corrupt_file(
    path: str | os.PathLike[str],
    *,
    random: Callable[[], float] | None = None,
    damage: Callable[[bytes, Callable[[], float]], bytes] = flip_bytes,
) -> Callable[[], None]:
    """Damage the file at ``path`` in place (one flipped bit by default) and return a
    callable that writes the original bytes back."""
    draw = random if random is not None else _random.Random().random
    with open(path, "rb") as source:
        original = source.read()
    with open(path, "wb") as sink:
        sink.write(damage(original, draw))

    def restore() -> None:
        with open(path, "wb") as out:
            out.write(original)

    return restore
