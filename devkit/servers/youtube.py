"""A stand-in for the YouTube Data API v3, for tests and local runs: a real HTTP server
(`uvicorn devkit.servers.youtube:app`) that answers videos.list, playlistItems.list (paged)
and channels.list (by id and forHandle) with responses recorded in the API's shapes
(`youtube_data/*.json`), and the API's errors: a wrong key (400 keyInvalid), a 403
quotaExceeded, a 500 backendError.

It counts the requests it receives per method (`GET /_calls`), so a test can prove that a
quota stop sends nothing. Test controls (never part of YouTube's API):
- `POST /_mode` {"quota_exceeded": bool, "fail_next": n}: answer quotaExceeded from now
  on, or 500 to the next n requests;
- `PUT /_videos/{id}` an item (e.g. `live_ended.json`: the live has ended), `DELETE
  /_videos/{id}` (the video is gone);
- `POST /_reset`: the recorded data and counts, as at start.
Accepted key (the `X-Goog-Api-Key` header, or `?key=` as YouTube also takes it):
`YOUTUBE_STANDIN_KEY` (default `test-key`)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DATA = Path(__file__).with_name("youtube_data")
CHANNEL_ID = "UC_x5XG1OV2P6uZZ5FSM9Ttw"
HANDLE = "@googledevelopers"
PLAYLIST_ID = "PLbpi6ZahtOH6Blw3RGYpWkSByi_T7Rygb"
UPLOADS_ID = "UU_x5XG1OV2P6uZZ5FSM9Ttw"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


class State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.videos: dict[str, Any] = {}
        for name in ("videos.json", "playlist_videos.json"):
            for item in load(name)["items"]:
                self.videos[item["id"]] = item
        pages = [load("playlist_page1.json"), load("playlist_page2.json")]
        self.playlists = {PLAYLIST_ID: pages, UPLOADS_ID: pages}
        self.calls: Counter[str] = Counter()
        self.quota_exceeded = False
        self.fail_next = 0


STATE = State()


def _error(name: str, status: int) -> JSONResponse:
    return JSONResponse(load(name), status)


def _refusal(request: Request, method: str) -> JSONResponse | None:
    """Count the request, then the error it gets, if any (in YouTube's order)."""
    STATE.calls[method] += 1
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if key != os.environ.get("YOUTUBE_STANDIN_KEY", "test-key"):
        return _error("key_invalid.json", 400)
    if STATE.quota_exceeded:
        return _error("quota_exceeded.json", 403)
    if STATE.fail_next > 0:
        STATE.fail_next -= 1
        return _error("backend_error.json", 500)
    return None


async def videos(request: Request) -> JSONResponse:
    refused = _refusal(request, "videos")
    if refused is not None:
        return refused
    ids = [i for i in request.query_params.get("id", "").split(",") if i][:50]
    items = [STATE.videos[i] for i in ids if i in STATE.videos]
    return JSONResponse(
        {
            "kind": "youtube#videoListResponse",
            "etag": "etag-list",
            "items": items,
            "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
        }
    )


async def playlist_items(request: Request) -> JSONResponse:
    refused = _refusal(request, "playlistItems")
    if refused is not None:
        return refused
    pages = STATE.playlists.get(request.query_params.get("playlistId", ""))
    if pages is None:
        return _error("playlist_not_found.json", 404)
    token = request.query_params.get("pageToken")
    if token is None:
        return JSONResponse(pages[0])
    for page in pages[:-1]:
        if page.get("nextPageToken") == token:
            return JSONResponse(pages[pages.index(page) + 1])
    return JSONResponse(
        {
            "error": {
                "code": 400,
                "message": "Invalid page token",
                "errors": [
                    {"reason": "invalidPageToken", "domain": "youtube.parameter", "message": "x"}
                ],
            }
        },
        400,
    )


async def channels(request: Request) -> JSONResponse:
    refused = _refusal(request, "channels")
    if refused is not None:
        return refused
    params = request.query_params
    wanted = params.get("id") == CHANNEL_ID or params.get("forHandle", "").lower() in (
        HANDLE,
        HANDLE[1:],
    )
    answer = load("channel.json")
    if not wanted:
        answer["items"], answer["pageInfo"]["totalResults"] = [], 0
    return JSONResponse(answer)


async def calls(request: Request) -> JSONResponse:
    return JSONResponse(dict(STATE.calls))


async def mode(request: Request) -> JSONResponse:
    body = await request.json()
    STATE.quota_exceeded = bool(body.get("quota_exceeded", STATE.quota_exceeded))
    STATE.fail_next = int(body.get("fail_next", STATE.fail_next))
    return JSONResponse({"quota_exceeded": STATE.quota_exceeded, "fail_next": STATE.fail_next})


async def put_video(request: Request) -> JSONResponse:
    STATE.videos[request.path_params["id"]] = await request.json()
    return JSONResponse({"ok": True})


async def delete_video(request: Request) -> JSONResponse:
    STATE.videos.pop(request.path_params["id"], None)
    return JSONResponse({"ok": True})


async def reset(request: Request) -> JSONResponse:
    STATE.reset()
    return JSONResponse({"ok": True})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/youtube/v3/videos", videos),
        Route("/youtube/v3/playlistItems", playlist_items),
        Route("/youtube/v3/channels", channels),
        Route("/health", health),
        Route("/_calls", calls),
        Route("/_mode", mode, methods=["POST"]),
        Route("/_videos/{id}", put_video, methods=["PUT"]),
        Route("/_videos/{id}", delete_video, methods=["DELETE"]),
        Route("/_reset", reset, methods=["POST"]),
    ]
)
