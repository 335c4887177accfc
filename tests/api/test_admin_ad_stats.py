"""GET /api/admin/ads/{id}/stats: any ad's delivery figures, for the console."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.money import CPM_AD, impression, live_ad, served_token

UNIT = CPM_AD["price_micros"] // 1000


async def test_admin_sees_an_ads_counted_impressions_and_spend(
    client: Any, admin: Any, auth: Any
) -> None:
    """The figures are the ledger's: one counted impression spends one unit; an unknown ad
    is the not-found envelope; a viewer is refused."""
    ad = await live_ad(
        client, admin, auth(50, ("advertiser",)), wallet=10 * UNIT, required_view_ms=200
    )
    token = await served_token(client, auth(7), ad["id"])
    await asyncio.sleep(0.25)  # the exposure passes on the server's clock
    r = await impression(client, auth(7), ad["id"], token, viewed_ms=9000)
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/admin/ads/{ad['id']}/stats", headers=admin)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert (data["impressions"], data["clicks"], data["spent_micros"]) == (1, 0, UNIT)
    r = await client.get("/api/admin/ads/999999/stats", headers=admin)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    r = await client.get(f"/api/admin/ads/{ad['id']}/stats", headers=auth(7))
    assert r.status_code == 403
