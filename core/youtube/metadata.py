"""A videos.list item as our content's metadata: pure, so that every rule is a unit test.

Live state (`live_state`): `upcoming` (scheduled, not started) and `live` (streaming now)
have no fixed duration (`duration_s` None); a broadcast that has ended (`actualEndTime`)
is `ended` and has its real duration, like any video (`none`). A video that cannot be
played here gets an `unpublished_reason`: `deleted` (absent from the answer: deleted, or
private to everyone but its owner), `private`, `rejected`, `region_blocked` (blocked in
YOUTUBE_REGION, or an allow-list without it) or `not_embeddable` (our players embed it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from core.youtube.duration import parse_duration
from core.youtube.refs import watch_url

LiveState = Literal["none", "upcoming", "live", "ended"]
THUMBNAIL_ORDER = ("maxres", "standard", "high", "medium", "default")
TITLE_MAX = 300
TAG_MAX, TAGS_MAX = 40, 20


class VideoMeta(msgspec.Struct, frozen=True, kw_only=True):
    external_id: str
    source_url: str
    title: str
    description: str = ""
    duration_s: int | None = None
    thumbnail_url: str | None = None
    tags: list[str] = []
    channel_id: str | None = None
    channel_title: str | None = None
    provider_published_at: datetime | None = None
    live_state: LiveState = "none"
    scheduled_start_at: datetime | None = None
    unpublished_reason: str | None = None


def gone(video_id: str) -> VideoMeta:
    """What we know of a video that the API no longer returns."""
    return VideoMeta(
        external_id=video_id,
        source_url=watch_url(video_id),
        title=video_id,
        unpublished_reason="deleted",
    )


def live_state(item: dict[str, Any]) -> LiveState:
    broadcast = item.get("snippet", {}).get("liveBroadcastContent", "none")
    details = item.get("liveStreamingDetails") or {}
    if broadcast == "live":
        return "live"
    if broadcast == "upcoming":
        return "upcoming"
    if details.get("actualEndTime"):
        return "ended"
    if details.get("actualStartTime"):  # started, not ended, not yet said to be live
        return "live"
    return "none"


def best_thumbnail(thumbnails: dict[str, Any]) -> str | None:
    """The largest thumbnail: by width when given, else by YouTube's size names."""
    sized = [t for t in thumbnails.values() if isinstance(t, dict) and t.get("url")]
    if not sized:
        return None
    if all("width" in t for t in sized):
        return str(max(sized, key=lambda t: int(t["width"]) * int(t.get("height", 1)))["url"])
    for name in THUMBNAIL_ORDER:
        if name in thumbnails and thumbnails[name].get("url"):
            return str(thumbnails[name]["url"])
    return str(sized[0]["url"])


def clean_tags(tags: list[Any]) -> list[str]:
    """YouTube's tags as our catalog's: lower-cased, trimmed, unique, at most 20 of at most
    40 characters (longer ones are dropped, not cut: a cut tag is another tag)."""
    out: list[str] = []
    for raw in tags:
        tag = str(raw).strip().lower()
        if tag and len(tag) <= TAG_MAX and tag not in out:
            out.append(tag)
        if len(out) == TAGS_MAX:
            break
    return out


def unpublished_reason(item: dict[str, Any], region: str) -> str | None:
    status = item.get("status") or {}
    if status.get("uploadStatus") in ("deleted", "failed"):
        return "deleted"
    if status.get("uploadStatus") == "rejected":
        return "rejected"
    if status.get("privacyStatus") == "private":
        return "private"
    restriction = (item.get("contentDetails") or {}).get("regionRestriction") or {}
    if region in restriction.get("blocked", []):
        return "region_blocked"
    if "allowed" in restriction and region not in restriction["allowed"]:
        return "region_blocked"
    if status.get("embeddable") is False:
        return "not_embeddable"
    return None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def from_item(item: dict[str, Any], region: str) -> VideoMeta:
    """Our metadata of one videos.list item (parts snippet, contentDetails, status,
    liveStreamingDetails). ValueError when a required field is malformed."""
    video_id = str(item["id"])
    snippet = item.get("snippet") or {}
    state = live_state(item)
    duration: int | None = None
    if state in ("none", "ended"):
        duration = parse_duration((item.get("contentDetails") or {}).get("duration", "P0D"))
    details = item.get("liveStreamingDetails") or {}
    title = str(snippet.get("title") or video_id).strip()[:TITLE_MAX] or video_id
    return VideoMeta(
        external_id=video_id,
        source_url=watch_url(video_id),
        title=title,
        description=str(snippet.get("description") or ""),
        duration_s=duration,
        thumbnail_url=best_thumbnail(snippet.get("thumbnails") or {}),
        tags=clean_tags(list(snippet.get("tags") or [])),
        channel_id=snippet.get("channelId"),
        channel_title=snippet.get("channelTitle"),
        provider_published_at=_time(snippet.get("publishedAt")),
        live_state=state,
        scheduled_start_at=_time(details.get("scheduledStartTime")),
        unpublished_reason=unpublished_reason(item, region),
    )
