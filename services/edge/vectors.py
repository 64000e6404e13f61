"""The vector index (the Vectorize role) on the store: one row per document with its
embedding; a query embeds the text and ranks the tenant's documents by cosine. Queries
and upserts go through their catalog policies (``vector.query``, ``vector.upsert``) and
are counted by status (``vectorize_queries_total``)."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from .domain.embedding import EmbeddingError, HashEmbedder, cosine

__all__ = ["VectorIndex"]


class VectorIndex:
    def __init__(
        self, runtime: Any, embedder: HashEmbedder, *, registry: CollectorRegistry
    ) -> None:
        self.rt = runtime
        self.embedder = embedder
        self.queries = Counter(
            "vectorize_queries", "Vector index queries by status", ["status"], registry=registry
        )

    async def upsert(self, tenant: str, doc_id: str, text: str, *, tx: Any = None) -> None:
        """Replace the document's row; inside ``tx`` when given (the ingestion inbox's
        transaction, so the row and the inbox record commit together)."""
        vector = self.embedder.embed(text)

        async def replace(tx: Any) -> None:
            await tx.execute(
                "DELETE FROM edge_vectors WHERE tenant = ? AND doc_id = ?", (tenant, doc_id)
            )
            await tx.execute(
                "INSERT INTO edge_vectors (tenant, doc_id, body, embedding) VALUES (?, ?, ?, ?)",
                (tenant, doc_id, text, json.dumps(vector)),
            )

        async def write() -> None:
            if tx is not None:
                await replace(tx)
                return
            async with self.rt.store.transaction() as own:
                await replace(own)

        await self.rt.policy("vector.upsert").acall(write)

    async def query(self, tenant: str, text: str, k: int = 3) -> list[dict[str, Any]]:
        try:
            vector = self.embedder.embed(text)
        except EmbeddingError:
            return []  # a question with no words (or too many) matches no document

        async def search() -> list[dict[str, Any]]:
            rows = await self.rt.store.fetch(
                "SELECT doc_id, body, embedding FROM edge_vectors WHERE tenant = ?", (tenant,)
            )
            scored = sorted(
                ((cosine(vector, json.loads(e)), str(d), str(b)) for d, b, e in rows),
                key=lambda s: -s[0],
            )
            return [{"id": d, "text": b, "score": score} for score, d, b in scored[:k]]

        try:
            found: list[dict[str, Any]] = await self.rt.policy("vector.query").acall(search)
        except Exception:
            self.queries.labels(status="error").inc()
            raise
        self.queries.labels(status="ok").inc()
        return found

    async def count(self, tenant: str | None = None) -> int:
        if tenant is None:
            rows = await self.rt.store.fetch("SELECT COUNT(*) FROM edge_vectors", ())
        else:
            rows = await self.rt.store.fetch(
                "SELECT COUNT(*) FROM edge_vectors WHERE tenant = ?", (tenant,)
            )
        return int(rows[0][0])
