"""Documents of the resolved tenant: ingestion through the queue, and grounded answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field, field_validator

from ._service import edge_of, require_ops, tenant_of

router = APIRouter(tags=["documents"])

DOC = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class Document(BaseModel):
    text: str = Field(max_length=200_000)

    @field_validator("text")
    @classmethod
    def storable(cls, text: str) -> str:
        # The queue keeps the document in the store: a NUL or a lone surrogate is refused
        # here as bad input (422), not by the store after the request was accepted.
        if "\x00" in text:
            raise ValueError("text holds a NUL character")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text holds a lone surrogate") from exc
        return text


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=4000)


class EmbedderFix(BaseModel):
    max_tokens: int = Field(ge=1, le=1_000_000)


@router.put("/v1/documents/{doc_id}", status_code=202)
async def submit(
    request: Request, body: Document, doc_id: str = Path(pattern=DOC)
) -> dict[str, Any]:
    """Queue a document for indexing."""
    result: dict[str, Any] = await edge_of(request).ingestion.submit(
        tenant_of(request), doc_id, body.text
    )
    return result


@router.post("/v1/assistant/ask")
async def ask(request: Request, body: Question) -> dict[str, Any]:
    """An answer grounded in the tenant's documents (or a warning when they could not be
    consulted)."""
    result: dict[str, Any] = await edge_of(request).rag.ask(tenant_of(request), body.question)
    return result


@router.get("/ops/ingest")
async def ingest_status(request: Request) -> dict[str, Any]:
    """Queue counts, documents indexed, and the DLQ."""
    require_ops(request)
    result: dict[str, Any] = await edge_of(request).ingestion.status()
    return result


@router.post("/ops/ingest/dlq/replay")
async def replay(request: Request) -> dict[str, Any]:
    """Queue every DLQ document again (after a fix)."""
    require_ops(request)
    return {"replayed": await edge_of(request).ingestion.replay_dlq()}


@router.put("/ops/ingest/embedder")
async def fix_embedder(request: Request, body: EmbedderFix) -> dict[str, Any]:
    """Set how many words the embedding model takes (the fix for over-long documents)."""
    require_ops(request)
    edge_of(request).index.embedder.max_tokens = body.max_tokens
    return {"max_tokens": body.max_tokens}
