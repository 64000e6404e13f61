"""Themes over HTTP: the editors' save with ETag / If-Match, locales, publish, render."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ..domain.document import ThemeDocument
from ..invalidation import cache_tag
from ..themes import etag, parse_etag
from ._service import tenant_of, theme_of

router = APIRouter(tags=["themes"])

ThemeId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
Locale = Annotated[str, Path(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
IfMatch = Annotated[str | None, Header(alias="If-Match")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such theme"},
    412: {"description": "the If-Match revision is not current"},
}


ADMISSION = "authoring.admission"


async def _admitted(request: Request, call: Any, *args: Any) -> Any:
    """Authoring work runs under the admission limit: past it, a fast 503 + Retry-After
    (the kit's envelope maps a full bulkhead) instead of a queue."""
    theme = theme_of(request)
    admission = theme.runtime.policy(ADMISSION)
    # The tenant's own bulkhead first, so a flooding tenant never holds the shared slots.
    return await theme.tenant_gate.run(tenant_of(request), admission.acall, call, *args)


def _with_etag(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"ETag": etag(int(body["revision"]))})


@router.put("/v1/themes/{theme_id}", responses={**_ERRORS, 428: {"description": "no If-Match"}})
async def save_theme(
    theme_id: ThemeId, document: ThemeDocument, request: Request, if_match: IfMatch = None
) -> JSONResponse:
    """Save the working version; an existing theme needs ``If-Match`` with its ETag."""
    themes = theme_of(request).themes
    saved = await _admitted(
        request, themes.save, tenant_of(request), theme_id, document, parse_etag(if_match)
    )
    return _with_etag(saved)


@router.get("/v1/themes/{theme_id}", responses=_ERRORS)
async def get_theme(theme_id: ThemeId, request: Request) -> JSONResponse:
    return _with_etag(await theme_of(request).themes.get(tenant_of(request), theme_id))


@router.delete(
    "/v1/themes/{theme_id}/locales/{locale}",
    responses={**_ERRORS, 409: {"description": "LOCALE_IN_USE, with every reference"}},
)
async def remove_locale(
    theme_id: ThemeId, locale: Locale, request: Request, if_match: IfMatch = None
) -> JSONResponse:
    themes = theme_of(request).themes
    saved = await themes.remove_locale(tenant_of(request), theme_id, locale, parse_etag(if_match))
    return _with_etag(saved)


@router.post(
    "/v1/themes/{theme_id}/publish",
    responses={**_ERRORS, 422: {"description": "field-level violations"}},
)
async def publish_theme(theme_id: ThemeId, request: Request) -> dict[str, Any]:
    """Validate, build and upload the bundle, then make it the active publication."""
    themes = theme_of(request).themes
    result: dict[str, Any] = await _admitted(request, themes.publish, tenant_of(request), theme_id)
    return result


@router.get("/v1/themes/{theme_id}/render", responses=_ERRORS)
async def render_theme(theme_id: ThemeId, request: Request) -> dict[str, Any]:
    """The content blocks as a page shows them (sanitised on the way out)."""
    result: dict[str, Any] = await theme_of(request).themes.render(tenant_of(request), theme_id)
    return result


@router.get("/v1/themes/{theme_id}/publication", responses=_ERRORS)
async def active_publication(theme_id: ThemeId, request: Request) -> dict[str, Any]:
    """The active publication: its revision, object key and SHA-256."""
    result: dict[str, Any] = await theme_of(request).themes.active(tenant_of(request), theme_id)
    return result


@router.get("/v1/themes/{theme_id}/bundle", responses=_ERRORS, response_class=Response)
async def active_bundle(theme_id: ThemeId, request: Request) -> Response:
    """The active bundle's bytes with the CDN's cache headers and purge tag."""
    theme = theme_of(request)
    tenant = tenant_of(request)
    data, active = await theme.themes.bundle(tenant, theme_id)
    headers = {
        "Cache-Control": theme.settings.cache_control,
        "Cache-Tag": cache_tag(tenant, theme_id),
        "ETag": f'"{active["sha256"]}"',
        "x-content-sha256": str(active["sha256"]),
    }
    return Response(data, media_type="application/json", headers=headers)


@router.get("/v1/purges")
async def purges(request: Request) -> list[dict[str, Any]]:
    """The tenant's CDN purge jobs: tag, attempts, state (pending, done, failed)."""
    result: list[dict[str, Any]] = await theme_of(request).purges.jobs(tenant_of(request))
    return result


class SuggestionRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=2000)


@router.post(
    "/v1/themes/{theme_id}/suggestions",
    status_code=201,
    responses={503: {"description": "MELMASTOON.AI.UNAVAILABLE, with Retry-After"}},
)
async def suggest(theme_id: ThemeId, body: SuggestionRequest, request: Request) -> dict[str, Any]:
    """Ask the AI for colours; stored as a pending suggestion, never applied by itself."""
    result: dict[str, Any] = await theme_of(request).suggestions.suggest(
        tenant_of(request), theme_id, body.prompt
    )
    return result


@router.get("/v1/themes/{theme_id}/suggestions")
async def suggestions(theme_id: ThemeId, request: Request) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await theme_of(request).suggestions.list(
        tenant_of(request), theme_id
    )
    return result


@router.post(
    "/v1/suggestions/{suggestion_id}/approve",
    responses={404: {"description": "no such suggestion"}, 409: {"description": "done"}},
)
async def approve(
    suggestion_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], request: Request
) -> dict[str, Any]:
    """A human applies a pending AI suggestion to the theme."""
    result: dict[str, Any] = await theme_of(request).suggestions.approve(
        tenant_of(request), suggestion_id
    )
    return result


@router.get(
    "/v1/themes/{theme_id}/read",
    responses={**_ERRORS, 503: {"description": "no copy passes its digest"}},
    response_class=Response,
)
async def read_bundle(theme_id: ThemeId, request: Request) -> Response:
    """The reader's path: cache, origin, then last-known-good; every byte SHA-256 checked."""
    theme = theme_of(request)
    data, how = await theme.reader.read(tenant_of(request), theme_id)
    headers = {"x-theme-source": how["source"], "x-theme-revision": str(how["revision"])}
    if how.get("stale"):
        headers["x-theme-stale"] = "database unavailable: publication from the cache"
    return Response(data, media_type="application/json", headers=headers)


@router.get("/v1/themes/{theme_id}/banners", responses=_ERRORS)
async def banners(theme_id: ThemeId, request: Request) -> list[dict[str, Any]]:
    """Backoffice banners: each broken asset with the block that shows it."""
    theme = theme_of(request)
    flags = await theme.assets.flagged(tenant_of(request), theme_id)
    return [{"banner": "Broken asset detected", **flag} for flag in flags]


class RollbackRequest(BaseModel):
    revision: int = Field(ge=1, le=2**31 - 1)  # a store integer; more is a 422


@router.post(
    "/v1/themes/{theme_id}/rollback",
    responses={**_ERRORS, 409: {"description": "PUBLISH_CONFLICT"}},
)
async def rollback_theme(
    theme_id: ThemeId, body: RollbackRequest, request: Request
) -> dict[str, Any]:
    """Make an earlier publication active again (no build, no upload)."""
    themes = theme_of(request).themes
    result: dict[str, Any] = await _admitted(
        request, themes.rollback, tenant_of(request), theme_id, body.revision
    )
    return result
