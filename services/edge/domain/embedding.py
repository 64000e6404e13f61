"""A deterministic embedding model (the port a real embedding model fills): hashed word
counts, normalised. A text with no words, or more words than the model takes, cannot be
embedded: :class:`EmbeddingError`, a permanent failure for that document."""

from __future__ import annotations

import hashlib
import math
import re

__all__ = ["EmbeddingError", "HashEmbedder", "cosine"]

_WORD = re.compile(r"[a-z0-9]+")


class EmbeddingError(ValueError):
    """The document cannot be embedded as it is (retrying will not help)."""


class HashEmbedder:
    def __init__(self, *, dims: int = 64, max_tokens: int = 2000) -> None:
        self.dims = dims
        self.max_tokens = max_tokens

    def embed(self, text: str) -> list[float]:
        words = _WORD.findall(text.lower())
        if not words:
            raise EmbeddingError("no words to embed")
        if len(words) > self.max_tokens:
            raise EmbeddingError(f"{len(words)} words; the model takes {self.max_tokens}")
        vector = [0.0] * self.dims
        for word in words:
            slot = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big")
            vector[slot % self.dims] += 1.0
        norm = math.sqrt(sum(v * v for v in vector))
        return [v / norm for v in vector]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))
