"""Signing keys: the public key document and the rotation steps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ._errors import answer, side

router = APIRouter(tags=["keys"])


@router.get("/.well-known/content-keys.json")
async def key_document(request: Request) -> Response:
    body = side(request).ring.document_bytes()
    return Response(body, media_type="application/json", headers={"cache-control": "max-age=300"})


@router.post("/ops/keys/next")
async def publish_next(request: Request) -> JSONResponse:
    return await answer(request, lambda: {"kid": side(request).publish_next_key()}, operator=True)


@router.post("/ops/keys/{kid}/activate")
async def activate(kid: str, request: Request) -> JSONResponse:
    def run() -> dict[str, Any]:
        side(request).activate_key(kid)
        return {"active": kid}

    return await answer(request, run, operator=True)


@router.post("/ops/keys/{kid}/retire")
async def retire(kid: str, request: Request) -> JSONResponse:
    def run() -> dict[str, Any]:
        side(request).retire_key(kid)
        return {"retired": kid}

    return await answer(request, run, operator=True)
