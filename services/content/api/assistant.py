"""The course assistant's configuration (AI gateway, default config as fallback)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ._errors import answer, side

router = APIRouter(tags=["assistant"])


@router.get("/v1/courses/{course_id}/assistant-config")
async def assistant_config(course_id: str, request: Request) -> JSONResponse:
    return await answer(request, lambda: side(request).assistant_config(course_id))
