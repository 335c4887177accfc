"""The pure YouTube rules: what an operator pasted, ISO 8601 durations, an API item as our
metadata and live state, and the Pacific quota day. No server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.youtube.duration import parse_duration
from core.youtube.metadata import best_thumbnail, clean_tags, from_item
from core.youtube.quota import quota_day, reset_at
from core.youtube.refs import Ref, RefError, parse_ref

DATA = Path(__file__).resolve().parents[2] / "devkit" / "servers" / "youtube_data"


def recorded(video_id: str) -> dict:
    items = json.loads((DATA / "videos.json").read_text())["items"]
    return next(i for i in items if i["id"] == video_id)


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("M7lc1UVf-VE", Ref("video", "M7lc1UVf-VE")),
        ("https://www.youtube.com/watch?v=M7lc1UVf-VE&t=42s", Ref("video", "M7lc1UVf-VE")),
        (
            "youtube.com/watch?v=M7lc1UVf-VE&list=PLbpi6ZahtOH6Blw3RGYpWkSByi_T7Rygb",
            Ref("video", "M7lc1UVf-VE"),
        ),
        ("https://youtu.be/M7lc1UVf-VE?si=abc", Ref("video", "M7lc1UVf-VE")),
        ("https://m.youtube.com/shorts/M7lc1UVf-VE", Ref("video", "M7lc1UVf-VE")),
        ("https://www.youtube.com/live/jfKfPfyJRdk?feature=share", Ref("video", "jfKfPfyJRdk")),
        ("https://www.youtube.com/embed/M7lc1UVf-VE", Ref("video", "M7lc1UVf-VE")),
        (
            "https://www.youtube.com/playlist?list=PLbpi6ZahtOH6Blw3RGYpWkSByi_T7Rygb",
            Ref("playlist", "PLbpi6ZahtOH6Blw3RGYpWkSByi_T7Rygb"),
        ),
        (
            "PLbpi6ZahtOH6Blw3RGYpWkSByi_T7Rygb",
            Ref("playlist", "PLbpi6ZahtOH6Blw3RGYpWkSByi_T7Rygb"),
        ),
        (
            "https://www.youtube.com/channel/UC_x5XG1OV2P6uZZ5FSM9Ttw",
            Ref("channel", "UC_x5XG1OV2P6uZZ5FSM9Ttw"),
        ),
        ("UC_x5XG1OV2P6uZZ5FSM9Ttw", Ref("channel", "UC_x5XG1OV2P6uZZ5FSM9Ttw")),
        ("https://www.youtube.com/@GoogleDevelopers/videos", Ref("handle", "@GoogleDevelopers")),
        ("  @GoogleDevelopers ", Ref("handle", "@GoogleDevelopers")),
    ],
)
def test_every_way_of_naming_a_video_playlist_or_channel_is_understood(text: str, ref: Ref) -> None:
    """Each pasted form names the video, playlist or channel it shows."""
    assert parse_ref(text) == ref


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "https://vimeo.com/123456",
        "https://www.youtube.com/watch?v=short",
        "ftp://youtube.com/watch?v=M7lc1UVf-VE",
        "https://youtu.be/",
        "https://www.youtube.com/feed",
    ],
)
def test_what_is_not_youtube_is_refused_with_a_reason(text: str) -> None:
    """Another site, a malformed id or a page that names nothing is refused, never guessed."""
    with pytest.raises(RefError):
        parse_ref(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT1H2M3S", 3723),
        ("PT15S", 15),
        ("PT4M", 240),
        ("P1DT2H", 93_600),
        ("P0D", 0),
        ("PT0S", 0),
        ("P2W", 1_209_600),
        ("PT10H0M1S", 36_001),
    ],
)
def test_iso_8601_durations_are_exact_seconds(text: str, seconds: int) -> None:
    """YouTube's durations parse to exact whole seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "1H", "PT1.5S", "P1Y", "P1M", "PT1H2", "P1DT"])
def test_durations_that_are_not_exact_are_refused(text: str) -> None:
    """Fractions, calendar units and malformed text are refused rather than guessed."""
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_video_maps_to_our_metadata() -> None:
    """Title, description, exact duration, the largest thumbnail, tags, channel, time."""
    meta = from_item(recorded("M7lc1UVf-VE"), "KR")
    assert meta.duration_s == 3723
    assert meta.live_state == "none" and meta.unpublished_reason is None
    assert meta.thumbnail_url == "https://i.ytimg.com/vi/M7lc1UVf-VE/maxresdefault.jpg"
    assert meta.tags == ["youtube", "iframe api", "embedded player"]
    assert (meta.channel_id, meta.channel_title) == (
        "UC_x5XG1OV2P6uZZ5FSM9Ttw",
        "Google for Developers",
    )
    assert meta.provider_published_at == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    assert meta.source_url == "https://www.youtube.com/watch?v=M7lc1UVf-VE"


def test_live_and_upcoming_have_no_fixed_duration_and_an_ended_live_has_its_own() -> None:
    """A live or upcoming broadcast has no duration; once ended it is a video of its length."""
    live = from_item(recorded("jfKfPfyJRdk"), "KR")
    upcoming = from_item(recorded("upc0mingAAA"), "KR")
    ended = from_item(json.loads((DATA / "live_ended.json").read_text()), "KR")
    assert (live.live_state, live.duration_s) == ("live", None)
    assert (upcoming.live_state, upcoming.duration_s) == ("upcoming", None)
    assert upcoming.scheduled_start_at == datetime(2026, 12, 24, 17, 0, tzinfo=UTC)
    assert (ended.live_state, ended.duration_s) == ("ended", 2 * 3600 + 30 * 60 + 15)


def test_private_and_region_blocked_videos_are_unpublished_with_their_reason() -> None:
    """A private video, and one blocked in our region, carry why they cannot be played."""
    assert from_item(recorded("privateVid1"), "KR").unpublished_reason == "private"
    assert from_item(recorded("regionBlk01"), "KR").unpublished_reason == "region_blocked"
    assert from_item(recorded("regionBlk01"), "US").unpublished_reason is None
    allow_list = {**recorded("M7lc1UVf-VE")}
    allow_list["contentDetails"] = {
        **allow_list["contentDetails"],
        "regionRestriction": {"allowed": ["US"]},
    }
    assert from_item(allow_list, "KR").unpublished_reason == "region_blocked"


def test_thumbnails_and_tags_are_chosen_as_the_catalog_needs() -> None:
    """The widest thumbnail wins; tags are lower-cased, unique, at most 20 of 40 chars."""
    assert (
        best_thumbnail(
            {
                "default": {"url": "a", "width": 120, "height": 90},
                "high": {"url": "b", "width": 480, "height": 360},
            }
        )
        == "b"
    )
    assert best_thumbnail({"medium": {"url": "m"}, "standard": {"url": "s"}}) == "s"
    assert best_thumbnail({}) is None
    tags = clean_tags([" K-Pop ", "k-pop", "x" * 41, *[f"t{i}" for i in range(30)]])
    assert tags[0] == "k-pop" and len(tags) == 20 and all(len(t) <= 40 for t in tags)


def test_the_quota_day_ends_at_pacific_midnight() -> None:
    """The quota day is Pacific: 07:00 UTC in summer, 08:00 UTC in winter."""
    summer = datetime(2026, 7, 1, 6, 59, tzinfo=UTC)
    assert quota_day(summer) == "2026-06-30"
    assert reset_at(summer).astimezone(UTC) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    winter = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    assert quota_day(winter) == "2026-12-03"
    assert reset_at(winter).astimezone(UTC) == datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
