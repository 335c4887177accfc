"""Admin YouTube routes (docs/youtube.md): import a video, playlist or channel as a job with
progress, list and read the jobs, and refresh one content's metadata now.

An import runs inside its request and answers with the finished job (201, `done` or
`failed` with the error): a paste of one video answers at once, a channel import takes one
API call per 50 videos (bounded by YOUTUBE_IMPORT_MAX_ITEMS), and its progress is written
per batch, so another admin's `GET` of the job shows it moving. A request that is
refused before a job starts (not a YouTube reference, YouTube not configured) makes no
job. Imports are idempotent: importing again updates the same contents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from msgspec import Meta, Struct
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate, path_id
from api.catalog import catalog_changed
from api.pages import Page, PageQuery, sql_page
from core import audit
from core.errors import NotFound, Unavailable
from core.web import decode_body, decode_query, invalid, ok
from core.web.spec import api_route
from core.youtube import importer
from core.youtube.client import QuotaExhausted, YouTubeClient, YouTubeError
from core.youtube.refs import RefError, parse_ref

Source = Annotated[str, Meta(min_length=1, max_length=2048)]


class ImportCreate(Struct, forbid_unknown_fields=True):
    source: Source  # a video URL or id, a playlist URL or id, a channel URL, id or @handle


class SkippedItem(Struct, frozen=True):
    id: str
    reason: str  # deleted, private, rejected, region_blocked, not_embeddable, malformed: ...


class ImportJob(Struct, frozen=True):
    id: int
    source: str
    kind: str  # video | playlist | channel | handle
    status: str  # running | done | failed
    found: int  # videos the reference named
    created: int
    updated: int  # already ours: refreshed (re-import), changed or not
    skipped: int
    skipped_items: list[SkippedItem]
    error: str | None
    created_by: int | None
    created_at: datetime
    finished_at: datetime | None


class YoutubeContent(Struct, frozen=True):
    id: int
    title: str
    source_url: str
    provider: str
    external_id: str
    status: str
    duration_s: int | None
    tags: list[str]
    description: str
    thumbnail_url: str | None
    channel_id: str | None
    channel_title: str | None
    provider_published_at: datetime | None
    live_state: str
    scheduled_start_at: datetime | None
    unpublished_reason: str | None
    metadata_refreshed_at: datetime | None
    updated_at: datetime


_JOB_COLUMNS = (
    "id, source, kind, status, found, created, updated, skipped, skipped_items, error,"
    " created_by, created_at, finished_at"
)
_JOB = text(f"SELECT {_JOB_COLUMNS} FROM youtube_imports WHERE id = :id")
_JOBS = f"""
SELECT {_JOB_COLUMNS} FROM youtube_imports
WHERE CAST(:after AS bigint) IS NULL OR id < :after
ORDER BY id DESC LIMIT :n
"""
_CONTENT = text(
    "SELECT " + ", ".join(YoutubeContent.__struct_fields__) + " FROM contents WHERE id = :id"
)


def _job(**row: Any) -> ImportJob:
    items = [SkippedItem(str(i["id"]), str(i["reason"])) for i in row.pop("skipped_items")]
    return ImportJob(**row, skipped_items=items)


def _client(request: Request) -> YouTubeClient:
    client: YouTubeClient = request.app.state.youtube
    if not client.configured:
        raise Unavailable("YouTube is not configured (YOUTUBE_API_KEY is not set)")
    return client


async def _read_job(request: Request, job_id: int) -> ImportJob:
    async with request.app.state.sessions() as session:
        row = (await session.execute(_JOB, {"id": job_id})).first()
    if row is None:
        raise NotFound(f"no import job {job_id}")
    return _job(**row._mapping)


async def post_import(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    body = await decode_body(request, ImportCreate)
    try:
        ref = parse_ref(body.source)
    except RefError as exc:
        raise invalid("source", f"not a YouTube video, playlist or channel: {exc}") from None
    client = _client(request)
    settings = request.app.state.settings
    async with request.app.state.sessions.begin() as session:
        job_id = await importer.create_job(session, body.source.strip(), ref, identity.user_id)
        audit.record(
            session,
            identity.user_id,
            "youtube.import",
            f"youtube_import:{job_id}",
            None,
            {"source": body.source.strip(), "kind": ref.kind},
        )
    await importer.run_job(
        request.app.state.sessions,
        client,
        job_id,
        ref,
        limit=settings.youtube_import_max_items,
        region=settings.youtube_region,
    )
    catalog_changed(request)
    return ok(request, await _read_job(request, job_id), 201)


async def list_imports(request: Request) -> Response:
    await authenticate(request, ADMIN)
    query = decode_query(request, PageQuery)
    async with request.app.state.sessions() as session:
        jobs = await sql_page(session, query, "youtube_imports", _JOBS, _job)
    return ok(request, jobs)


async def get_import(request: Request) -> Response:
    await authenticate(request, ADMIN)
    return ok(request, await _read_job(request, path_id(request)))


async def refresh_content(request: Request) -> Response:
    """Refresh one YouTube content's metadata now (one videos.list call)."""
    await authenticate(request, ADMIN)
    content_id = path_id(request)
    async with request.app.state.sessions() as session:
        row = (
            await session.execute(
                text("SELECT provider, external_id FROM contents WHERE id = :id"),
                {"id": content_id},
            )
        ).first()
    if row is None or row.provider != importer.PROVIDER or row.external_id is None:
        raise NotFound(f"no YouTube content {content_id}")
    client = _client(request)
    settings = request.app.state.settings
    try:
        await importer.refresh(
            request.app.state.sessions, client, [row.external_id], settings.youtube_region
        )
    except QuotaExhausted as exc:
        raise Unavailable(
            "the YouTube quota is spent until its reset",
            details={"resets_at": exc.reset_at.isoformat(), "why": exc.why},
        ) from None
    except YouTubeError as exc:
        raise Unavailable(f"YouTube failed: {exc.reason}", details={"reason": exc.reason}) from None
    catalog_changed(request)
    async with request.app.state.sessions() as session:
        content = (await session.execute(_CONTENT, {"id": content_id})).one()
    return ok(request, YoutubeContent(**content._mapping))


TAGS = ("admin",)
routes = [
    api_route(
        "POST",
        "/api/admin/youtube/imports",
        post_import,
        summary="Import a YouTube video, playlist or channel (answers the finished job)",
        auth="admin",
        body=ImportCreate,
        response=ImportJob,
        status=201,
        errors=("unavailable",),
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/admin/youtube/imports",
        list_imports,
        summary="List YouTube import jobs, newest first",
        auth="admin",
        query=PageQuery,
        response=Page[ImportJob],
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/admin/youtube/imports/{id:int}",
        get_import,
        summary="One YouTube import job and its progress",
        auth="admin",
        response=ImportJob,
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/contents/{id:int}/youtube-refresh",
        refresh_content,
        summary="Refresh a YouTube content's metadata and live state now",
        auth="admin",
        response=YoutubeContent,
        errors=("unavailable",),
        tags=TAGS,
    ),
]
