"""What an operator pasted, as a reference to a YouTube video, playlist or channel.

Accepted: a bare 11-character video id; `youtube.com/watch?v=`, `youtu.be/`, `/shorts/`,
`/live/`, `/embed/` URLs (a `watch` URL that also names a playlist is the video: the
operator pasted what was playing); `youtube.com/playlist?list=`; a bare playlist id
(`PL...`, `UU...`, `OL...`); `youtube.com/channel/UC...`, a bare `UC...` channel id;
`youtube.com/@handle` or `@handle`. Anything else is refused with a reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

Kind = Literal["video", "playlist", "channel", "handle"]

VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
PLAYLIST_ID = re.compile(r"^(PL|UU|OL|LL|FL|RD)[A-Za-z0-9_-]{10,64}$")
CHANNEL_ID = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
HANDLE = re.compile(r"^@[A-Za-z0-9._-]{3,30}$")
HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com")
VIDEO_PATHS = ("shorts", "live", "embed", "v")


class RefError(ValueError):
    """Not a YouTube video, playlist or channel; the message says why."""


@dataclass(frozen=True, slots=True)
class Ref:
    kind: Kind
    value: str  # a video id, playlist id, channel id, or handle with its @


def watch_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def parse_ref(text: str) -> Ref:
    raw = text.strip()
    if not raw:
        raise RefError("empty")
    if HANDLE.match(raw):
        return Ref("handle", raw)
    if "/" not in raw and "." not in raw:
        if CHANNEL_ID.match(raw):
            return Ref("channel", raw)
        if PLAYLIST_ID.match(raw):
            return Ref("playlist", raw)
        if VIDEO_ID.match(raw):
            return Ref("video", raw)
        raise RefError("not a video, playlist or channel id")
    return _parse_url(raw if "://" in raw else "https://" + raw)


def _parse_url(url: str) -> Ref:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise RefError("not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise RefError("not an http(s) URL")
    segments = [s for s in parts.path.split("/") if s]
    query = parse_qs(parts.query)
    if host == "youtu.be":
        if segments and VIDEO_ID.match(segments[0]):
            return Ref("video", segments[0])
        raise RefError("a youtu.be URL without a video id")
    if host not in HOSTS:
        raise RefError(f"not a YouTube address: {host or 'no host'}")
    if segments[:1] == ["watch"]:
        video = (query.get("v") or [""])[0]
        if VIDEO_ID.match(video):
            return Ref("video", video)
        raise RefError("a watch URL without a video id")
    if segments[:1] == ["playlist"]:
        playlist = (query.get("list") or [""])[0]
        if PLAYLIST_ID.match(playlist):
            return Ref("playlist", playlist)
        raise RefError("a playlist URL without a playlist id")
    if len(segments) >= 2 and segments[0] in VIDEO_PATHS and VIDEO_ID.match(segments[1]):
        return Ref("video", segments[1])
    if len(segments) >= 2 and segments[0] == "channel" and CHANNEL_ID.match(segments[1]):
        return Ref("channel", segments[1])
    if segments and HANDLE.match(segments[0]):
        return Ref("handle", segments[0])
    raise RefError("not a video, playlist or channel URL")
