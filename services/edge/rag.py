"""Answers grounded in the tenant's documents (retrieval, then the AI gateway).

When the vector index cannot be queried (after its retries) the answer is produced
without retrieval and carries a warning that internal documents were not consulted: an
optional step degrades, the answer still comes.
"""

from __future__ import annotations

from typing import Any

from .ai import AiGateway
from .events import VectorQueryFailed
from .vectors import VectorIndex

__all__ = ["NOT_CONSULTED", "Rag"]

NOT_CONSULTED = "internal documents could not be consulted; this answer uses general knowledge only"


class Rag:
    def __init__(self, runtime: Any, index: VectorIndex, ai: AiGateway) -> None:
        self.rt = runtime
        self.index = index
        self.ai = ai

    async def ask(self, tenant: str, question: str) -> dict[str, Any]:
        warning = None
        try:
            sources = await self.index.query(tenant, question)
        except Exception as exc:
            self.rt.emit(
                VectorQueryFailed(
                    target="vector.query", at=self.rt.clock.now(), tenant_id=tenant, error=exc
                )
            )
            if not self.rt.switches.enabled("edge.switch.rag-without-retrieval"):
                raise
            sources, warning = [], NOT_CONSULTED
        context = "\n".join(f"[{s['id']}] {s['text'][:500]}" for s in sources)
        prompt = f"{context}\n\nQuestion: {question}" if context else question
        answer = await self.ai.answer(tenant, prompt)
        return {
            "answer": answer["answer"],
            "model": answer["model"],
            "sources": [s["id"] for s in sources],
            "warning": warning,
        }
