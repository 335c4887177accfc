"""Admin view of one ad's delivery: the same figures its advertiser sees (counted
impressions and clicks, spend, budget, the last days), for any ad, so the console can show
an ad's stats next to its review."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate, path_id
from api.campaigns import AdStats, ad_stats, get_ad
from core.web import ok
from core.web.spec import api_route


async def get_ad_stats(request: Request) -> Response:
    await authenticate(request, ADMIN)
    ad_id = path_id(request)
    async with request.app.state.sessions() as session:
        ad = await get_ad(session, ad_id)
        stats = await ad_stats(session, ad, request.app.state.settings.app_timezone)
    return ok(request, stats)


routes = [
    api_route(
        "GET",
        "/api/admin/ads/{id:int}/stats",
        get_ad_stats,
        summary="One ad's delivery stats (impressions, clicks, spend, by day)",
        auth="admin",
        response=AdStats,
        tags=("admin",),
    ),
]
