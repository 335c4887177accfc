"""Our YouTube contents in PostgreSQL: import a video, playlist or channel as a job with
progress, and refresh contents' metadata. Used by the admin routes (api) and the refresh
job (workers); each function owns its transactions (one per batch of 50 videos, so an
import's progress is visible while it runs and a failure keeps the batches done).

A content is keyed by (provider `youtube`, external id): importing twice updates the row,
never duplicates it (ON CONFLICT on the unique pair, safe under concurrent imports). The
row is only written when something changed (so a refresh that finds nothing new does not
bump `updated_at`, which the hubs and the catalog poll); `metadata_refreshed_at` moves
either way. A video that cannot be played here becomes a draft with its
`unpublished_reason`; one that comes back is published again, unless an admin made it a
draft (no reason). A video the API does not return at all (deleted, or private to its
owner) that we do not have yet is skipped with its reason rather than created unplayable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import case, func, literal_column, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Content
from core.youtube import metadata
from core.youtube.client import QuotaExhausted, YouTubeClient, YouTubeError
from core.youtube.metadata import VideoMeta
from core.youtube.refs import Ref

PROVIDER = "youtube"
BATCH = 50
META_COLUMNS = (
    "title",
    "source_url",
    "description",
    "duration_s",
    "thumbnail_url",
    "tags",
    "channel_id",
    "channel_title",
    "provider_published_at",
    "live_state",
    "scheduled_start_at",
    "unpublished_reason",
)


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)


async def upsert(session: AsyncSession, meta: VideoMeta) -> str:
    """Write one video's metadata: `created`, `updated` (something changed) or `unchanged`."""
    values: dict[str, Any] = {name: getattr(meta, name) for name in META_COLUMNS}
    available = meta.unpublished_reason is None
    query = insert(Content).values(
        **values,
        provider=PROVIDER,
        external_id=meta.external_id,
        status="published" if available else "draft",
        published_at=func.now() if available else None,
        metadata_refreshed_at=func.now(),
    )
    new = query.excluded
    current = Content.__table__.c
    status = case(
        (new.unpublished_reason.is_not(None), "draft"),
        (current.unpublished_reason.is_not(None), "published"),
        else_=current.status,
    )
    changed = or_(
        *(current[name].is_distinct_from(new[name]) for name in META_COLUMNS),
        current.status.is_distinct_from(status),
    )
    upsert_query: Any = query.on_conflict_do_update(
        constraint="contents_provider_external_id",
        set_={
            **{name: new[name] for name in META_COLUMNS},
            "status": status,
            "published_at": func.coalesce(current.published_at, new.published_at),
            "metadata_refreshed_at": func.now(),
            "updated_at": func.clock_timestamp(),
        },
        where=changed,
    ).returning(literal_column("xmax = 0"))
    row = (await session.execute(upsert_query)).first()
    if row is not None:
        return "created" if row[0] else "updated"
    await session.execute(
        update(Content)
        .where(Content.provider == PROVIDER, Content.external_id == meta.external_id)
        .values(metadata_refreshed_at=func.now())
    )
    return "unchanged"


async def mark_gone(session: AsyncSession, external_id: str) -> None:
    """The API no longer returns the video: unpublish it (its metadata stays as last seen)."""
    await session.execute(
        update(Content)
        .where(
            Content.provider == PROVIDER,
            Content.external_id == external_id,
            Content.unpublished_reason.is_distinct_from("deleted"),
        )
        .values(
            unpublished_reason="deleted",
            status="draft",
            updated_at=func.clock_timestamp(),
        )
    )
    await session.execute(
        update(Content)
        .where(Content.provider == PROVIDER, Content.external_id == external_id)
        .values(metadata_refreshed_at=func.now())
    )


async def apply_batch(
    session: AsyncSession, ids: list[str], items: dict[str, dict[str, Any]], region: str
) -> Counts:
    """Write one videos.list answer for `ids`; skip what we cannot and do not have."""
    known = set(
        (
            await session.execute(
                select(Content.external_id).where(
                    Content.provider == PROVIDER, Content.external_id.in_(ids)
                )
            )
        ).scalars()
    )
    counts = Counts()
    for video_id in ids:
        item = items.get(video_id)
        if item is None:
            if video_id in known:
                await mark_gone(session, video_id)
                counts.updated += 1
            else:
                counts.skipped.append({"id": video_id, "reason": "deleted"})
            continue
        try:
            meta = metadata.from_item(item, region)
        except (KeyError, ValueError, TypeError) as exc:
            counts.skipped.append({"id": video_id, "reason": f"malformed: {exc}"[:200]})
            continue
        if meta.unpublished_reason is not None and video_id not in known:
            counts.skipped.append({"id": video_id, "reason": meta.unpublished_reason})
            continue
        outcome = await upsert(session, meta)
        if outcome == "created":
            counts.created += 1
        else:
            counts.updated += 1
    return counts


# ----------------------------------------------------------------------------- import jobs

_PROGRESS = text(
    """
UPDATE youtube_imports SET found = :found, created = created + :created,
  updated = updated + :updated, skipped = skipped + :skipped,
  skipped_items = skipped_items || CAST(:items AS jsonb)
WHERE id = :id
"""
)
_FINISH = text(
    "UPDATE youtube_imports SET status = :status, error = :error, finished_at = now()"
    " WHERE id = :id"
)


async def create_job(session: AsyncSession, source: str, ref: Ref, user_id: int) -> int:
    row = await session.execute(
        text(
            "INSERT INTO youtube_imports (source, kind, created_by) VALUES (:s, :k, :u)"
            " RETURNING id"
        ),
        {"s": source, "k": ref.kind, "u": user_id},
    )
    return int(row.scalar_one())


async def video_ids(client: YouTubeClient, ref: Ref, limit: int) -> list[str]:
    """The videos a reference names, in order (a channel: its uploads playlist)."""
    if ref.kind == "video":
        return [ref.value]
    if ref.kind == "playlist":
        return await client.playlist_video_ids(ref.value, limit)
    if ref.kind == "channel":
        playlist = await client.uploads_playlist(channel_id=ref.value)
    else:
        playlist = await client.uploads_playlist(handle=ref.value)
    return await client.playlist_video_ids(playlist, limit)


async def run_job(
    sessions: async_sessionmaker[AsyncSession],
    client: YouTubeClient,
    job_id: int,
    ref: Ref,
    *,
    limit: int,
    region: str,
) -> None:
    """Run an import job to its end: `done`, or `failed` with the error (the batches
    written before a failure stay)."""
    found = 0
    try:
        ids = await video_ids(client, ref, limit)
        found = len(ids)
        async with sessions.begin() as session:
            await session.execute(
                _PROGRESS,
                {
                    "id": job_id,
                    "found": found,
                    "created": 0,
                    "updated": 0,
                    "skipped": 0,
                    "items": "[]",
                },
            )
        for i in range(0, len(ids), BATCH):
            chunk = ids[i : i + BATCH]
            items = await client.videos(chunk)
            async with sessions.begin() as session:
                counts = await apply_batch(session, chunk, items, region)
                await session.execute(
                    _PROGRESS,
                    {
                        "id": job_id,
                        "found": found,
                        "created": counts.created,
                        "updated": counts.updated,
                        "skipped": len(counts.skipped),
                        "items": orjson.dumps(counts.skipped).decode(),
                    },
                )
    except QuotaExhausted as exc:
        await _finish(sessions, job_id, "failed", f"quota_exhausted: until {exc.reset_at}")
    except YouTubeError as exc:
        await _finish(sessions, job_id, "failed", f"{exc.reason}: {exc}"[:300])
    else:
        await _finish(sessions, job_id, "done", None)


async def _finish(
    sessions: async_sessionmaker[AsyncSession], job_id: int, status: str, error: str | None
) -> None:
    async with sessions.begin() as session:
        await session.execute(_FINISH, {"id": job_id, "status": status, "error": error})


# ----------------------------------------------------------------------------- refresh

_DUE = text(
    """
SELECT external_id FROM contents
WHERE provider = 'youtube' AND external_id IS NOT NULL AND deleted_at IS NULL
  AND (metadata_refreshed_at IS NULL
       OR (live_state IN ('live', 'upcoming')
           AND metadata_refreshed_at < now() - make_interval(secs => :live_s))
       OR metadata_refreshed_at < now() - interval '1 day')
ORDER BY live_state IN ('live', 'upcoming') DESC, metadata_refreshed_at NULLS FIRST, id
LIMIT :n
"""
)


async def due(session: AsyncSession, live_s: int, limit: int) -> list[str]:
    """The external ids whose metadata is due: live and upcoming ones every `live_s`, the
    others daily; lives first, then the stalest."""
    rows = await session.execute(_DUE, {"live_s": live_s, "n": limit})
    return [str(r[0]) for r in rows]


async def refresh(
    sessions: async_sessionmaker[AsyncSession],
    client: YouTubeClient,
    ids: list[str],
    region: str,
) -> int:
    """Refresh these contents (50 per videos.list call); returns how many were refreshed.
    A quota stop ends the pass (the rest waits for the next one), raised to the caller."""
    done = 0
    for i in range(0, len(ids), BATCH):
        chunk = ids[i : i + BATCH]
        items = await client.videos(chunk)
        async with sessions.begin() as session:
            await apply_batch(session, chunk, items, region)
        done += len(chunk)
    return done
