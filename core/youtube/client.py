"""The YouTube Data API v3 client: videos.list, playlistItems.list (paging) and
channels.list (a channel's uploads playlist, by id or by handle), over httpx.

Every request sent is first charged to the quota ledger (units per call, `quota.COSTS`,
against YOUTUBE_DAILY_QUOTA for the Pacific quota day). A 403 `quotaExceeded` (or
`dailyLimitExceeded`) stops every process's calls until the quota day resets: the stop is
kept in the shared ledger, so the next call is refused here without reaching YouTube. 5xx
answers and transport errors are retried with exponential backoff; other 4xx are not
(retrying a bad request only spends quota)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from core.youtube import quota
from core.youtube.metrics import YouTubeMetrics

PAGE_SIZE = 50  # the most any list method returns per page, and ids per videos.list call
VIDEO_PARTS = "snippet,contentDetails,status,liveStreamingDetails"
QUOTA_REASONS = ("quotaExceeded", "dailyLimitExceeded")


class QuotaLedger(Protocol):
    """Units spent per quota day and the stop flag, shared by every process (Redis)."""

    async def stopped(self, day: str) -> bool: ...

    async def spend(self, day: str, units: int, budget: int, ttl_s: int) -> bool: ...

    async def stop(self, day: str, ttl_s: int) -> None: ...

    async def used(self, day: str) -> int: ...


class YouTubeError(Exception):
    """YouTube refused or failed a request; `reason` is its error reason (or ours)."""

    def __init__(self, reason: str, message: str = "", status: int | None = None) -> None:
        super().__init__(message or reason)
        self.reason, self.status = reason, status


class QuotaExhausted(YouTubeError):
    """No call is made until `reset_at` (the quota day's end, Pacific midnight)."""

    def __init__(self, why: str, reset_at: datetime) -> None:
        super().__init__("quota_exhausted", f"YouTube quota stopped ({why}) until {reset_at}")
        self.why, self.reset_at = why, reset_at


class YouTubeClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        base_url: str,
        ledger: QuotaLedger,
        metrics: YouTubeMetrics,
        daily_budget: int,
        retries: int = 3,
        backoff_s: float = 0.2,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.http, self.api_key, self.base_url = http, api_key, base_url.rstrip("/")
        self.ledger, self.metrics, self.daily_budget = ledger, metrics, daily_budget
        self.retries, self.backoff_s, self.clock = retries, backoff_s, clock

    @property
    def configured(self) -> bool:
        return bool(self.api_key)

    async def status(self) -> dict[str, Any]:
        """The quota day's state, for /ready's details (never raises on a Redis failure:
        the caller's own checks report Redis)."""
        now = self.clock()
        day = quota.quota_day(now)
        stopped = await self.ledger.stopped(day)
        self.metrics.exhausted.set(1 if stopped else 0)
        return {
            "configured": self.configured,
            "quota_day": day,
            "units_used": await self.ledger.used(day),
            "daily_budget": self.daily_budget,
            "stopped": stopped,
            "resets_at": quota.reset_at(now).isoformat(),
        }

    # ------------------------------------------------------------------------- the methods

    async def videos(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """videos.list of `ids` (any number, 50 per call): id -> item; an id that YouTube
        does not return (deleted, or private) is absent."""
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), PAGE_SIZE):
            chunk = ids[i : i + PAGE_SIZE]
            answer = await self._get(
                "videos", {"part": VIDEO_PARTS, "id": ",".join(chunk), "maxResults": PAGE_SIZE}
            )
            for item in answer.get("items", []):
                found[str(item["id"])] = item
        return found

    async def playlist_video_ids(self, playlist_id: str, limit: int) -> list[str]:
        """The video ids of a playlist in its order, every page, at most `limit`."""
        ids: list[str] = []
        token: str | None = None
        while len(ids) < limit:
            params: dict[str, Any] = {
                "part": "contentDetails",
                "playlistId": playlist_id,
                "maxResults": PAGE_SIZE,
            }
            if token:
                params["pageToken"] = token
            answer = await self._get("playlistItems", params)
            for item in answer.get("items", []):
                video_id = (item.get("contentDetails") or {}).get("videoId")
                if video_id and video_id not in ids:
                    ids.append(str(video_id))
            token = answer.get("nextPageToken")
            if not token:
                break
        return ids[:limit]

    async def uploads_playlist(self, *, channel_id: str = "", handle: str = "") -> str:
        """The id of a channel's uploads playlist, by channel id or by @handle."""
        params: dict[str, Any] = {"part": "contentDetails"}
        if channel_id:
            params["id"] = channel_id
        else:
            params["forHandle"] = handle
        answer = await self._get("channels", params)
        items = answer.get("items") or []
        if not items:
            raise YouTubeError("channel_not_found", f"no channel {channel_id or handle}", 404)
        uploads = items[0].get("contentDetails", {}).get("relatedPlaylists", {}).get("uploads")
        if not uploads:
            raise YouTubeError("channel_not_found", "the channel has no uploads playlist", 404)
        return str(uploads)

    # ------------------------------------------------------------------------- one request

    async def _get(self, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
        if not self.configured:
            raise YouTubeError("not_configured", "YOUTUBE_API_KEY is not set")
        attempt = 0
        while True:
            await self._charge(endpoint)
            try:
                # The key goes in Google's header, not the query string: httpx logs
                # request URLs at INFO, and a key in a URL ends up in every log line.
                response = await self.http.get(
                    f"{self.base_url}/{endpoint}",
                    params=params,
                    headers={"X-Goog-Api-Key": self.api_key},
                )
            except httpx.TransportError as exc:
                failure: YouTubeError = YouTubeError("unavailable", f"{type(exc).__name__}")
            else:
                if response.status_code < 400:
                    self.metrics.calls.labels(endpoint, "ok").inc()
                    return response.json()  # type: ignore[no-any-return]
                reason = _reason(response)
                if response.status_code == 403 and reason in QUOTA_REASONS:
                    self.metrics.calls.labels(endpoint, "quota_exceeded").inc()
                    now = self.clock()
                    await self.ledger.stop(quota.quota_day(now), quota.seconds_to_reset(now))
                    self.metrics.exhausted.set(1)
                    raise QuotaExhausted(reason, quota.reset_at(now))
                failure = YouTubeError(reason, _message(response), response.status_code)
                if response.status_code < 500:
                    self.metrics.calls.labels(endpoint, "error").inc()
                    raise failure
            if attempt >= self.retries:
                self.metrics.calls.labels(endpoint, "error").inc()
                raise failure
            self.metrics.calls.labels(endpoint, "retried").inc()
            await asyncio.sleep(self.backoff_s * 2**attempt)
            attempt += 1

    async def _charge(self, endpoint: str) -> None:
        """Spend the call's units, or refuse it without sending (stopped, or over budget)."""
        now = self.clock()
        day, ttl = quota.quota_day(now), quota.seconds_to_reset(now) + 86_400
        if await self.ledger.stopped(day):
            self.metrics.calls.labels(endpoint, "refused").inc()
            self.metrics.exhausted.set(1)
            raise QuotaExhausted("stopped", quota.reset_at(now))
        if not await self.ledger.spend(day, quota.COSTS[endpoint], self.daily_budget, ttl):
            self.metrics.calls.labels(endpoint, "refused").inc()
            self.metrics.exhausted.set(1)
            raise QuotaExhausted("budget", quota.reset_at(now))
        self.metrics.units.inc(quota.COSTS[endpoint])


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _reason(response: httpx.Response) -> str:
    errors = _error(response).get("errors") or [{}]
    return str(errors[0].get("reason") or f"http_{response.status_code}")


def _message(response: httpx.Response) -> str:
    return str(_error(response).get("message") or f"HTTP {response.status_code}")[:300]
