"""Ad-fraud attack drill: how much an attacker can bill advertisers through the viewer routes.
Prints one JSON object (the figures in docs/security.md "Ad fraud").

    .venv/bin/python -m loadtests.ad_attack            # its own local stack, ~20 s
    .venv/bin/python -m loadtests.ad_attack --count 50

It starts its own redis-server and PostgreSQL on free loopback ports in a temporary folder
(loadtests/stack.py), one api process, and never talks to anything but 127.0.0.1. Every
attack is bounded (`--count` requests, at most 200, and a 60 s budget for the whole run).
The api runs with its rate limits raised, so that the figures measure the billing rules,
not the per-minute request limit in front of them. The attacks, each against a fresh ad:

- `forged`: one viewer reports `count` CPM impressions with made-up ids and
  `viewed_ms: 5000`, all at once;
- `instant`: one viewer takes `count` ads from `GET /api/ads` and reports each at once
  (before the 5 s exposure could have passed), claiming `viewed_ms: 5000`;
- `replay`: one served impression reported `count` times at once;
- `clicks`: CPC clicks on made-up (or instantly reported) impressions, against a wallet that
  holds 20 clicks;
- `competitor`: an advertiser reports impressions of another advertiser's ad with its own
  (advertiser) token and made-up ids;
- `self_credit`: an advertiser charges its own wallet 1,000,000 KRW and never pays.

Each attack's figure is the micros billed to the victim's wallet and the events billed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import httpx

from loadtests.stack import Stack

CPM = {
    "title": "Victim",
    "creative_url": "https://cdn.example/v.mp4",
    "click_url": "https://shop.example/v",
    "placement": "preroll",
    "billing": "cpm",
    "price_micros": 2_000_000,  # 2000 micros per impression
    "budget_micros": 1_000_000_000,
    "required_view_ms": 5000,
}
CPC = {**CPM, "billing": "cpc", "price_micros": 1_000_000, "placement": "banner"}
DEADLINE_S = 60.0


class Drill:
    def __init__(self, http: httpx.AsyncClient, stack: Stack) -> None:
        self.http = http
        (viewer,) = stack.tokens([7], ("viewer",))
        self.admin = {"Authorization": f"Bearer {stack.tokens([1], ('admin',))[0]}"}
        self.adv = {"Authorization": f"Bearer {stack.tokens([50], ('advertiser',))[0]}"}
        self.rival = {"Authorization": f"Bearer {stack.tokens([51], ('advertiser',))[0]}"}
        self.viewer = {"Authorization": f"Bearer {viewer}"}
        self.started = time.monotonic()

    async def wallet(self) -> int:
        r = await self.http.get("/api/advertiser/wallet", headers=self.adv)
        return int(r.json()["data"]["balance_micros"])

    async def fund(self, micros: int) -> None:
        """Fund the victim's wallet the way the running version allows: a direct charge (old)
        or a manual credit by the admin (bank transfer, after the gateway change)."""
        key = {"Idempotency-Key": uuid.uuid4().hex}
        r = await self.http.post(
            "/api/advertiser/wallet/charges",
            json={"amount_micros": micros},
            headers={**self.adv, **key},
        )
        if r.status_code == 201 and r.json()["data"].get("status") == "succeeded":
            return
        r = await self.http.post(
            "/api/admin/wallets/50/credits",
            json={"amount_micros": micros, "reference": "drill"},
            headers={**self.admin, **key},
        )
        assert r.status_code in (200, 201), r.text

    async def ad(self, fields: dict[str, Any]) -> int:
        # Older ads of the drill are rejected, so that GET /api/ads serves this one.
        r = await self.http.get("/api/advertiser/ads?limit=100", headers=self.adv)
        for old in r.json()["data"]["items"]:
            if old["status"] == "approved":
                await self.http.post(
                    f"/api/admin/ads/{old['id']}/reject", json={"reason": "x"}, headers=self.admin
                )
        r = await self.http.post("/api/advertiser/ads", json=fields, headers=self.adv)
        assert r.status_code == 201, r.text
        ad_id = int(r.json()["data"]["id"])
        await self.http.post(f"/api/admin/ads/{ad_id}/approve", headers=self.admin)
        return ad_id

    def bounded(self) -> None:
        if time.monotonic() - self.started > DEADLINE_S:
            raise SystemExit("the drill ran over its time budget")

    async def report(self, who: dict[str, str], ad_id: int, imp: str) -> dict[str, Any]:
        r = await self.http.post(
            f"/api/ads/{ad_id}/impressions",
            json={"impression_id": imp, "viewed_ms": 5000},
            headers=who,
        )
        return dict(r.json().get("data") or {})

    async def click(self, ad_id: int, imp: str) -> dict[str, Any]:
        r = await self.http.post(
            f"/api/ads/{ad_id}/clicks", json={"impression_id": imp}, headers=self.viewer
        )
        return dict(r.json().get("data") or {})

    async def served(self, placement: str) -> str:
        r = await self.http.get(f"/api/ads?placement={placement}&content_id=1", headers=self.viewer)
        return str(r.json()["data"]["impression_id"])

    async def self_credit(self) -> dict[str, Any]:
        before = await self.wallet()
        r = await self.http.post(
            "/api/advertiser/wallet/charges",
            json={"amount_micros": 10**12},
            headers={**self.adv, "Idempotency-Key": uuid.uuid4().hex},
        )
        credited = await self.wallet() - before
        return {"attack": "self_credit", "status": r.status_code, "credited_micros": credited}

    async def measure(self, name: str, fields: dict[str, Any], attack: Any) -> dict[str, Any]:
        self.bounded()
        await self.fund(100_000_000)
        ad_id = await self.ad(fields)
        before = await self.wallet()
        t0 = time.monotonic()
        answers = await attack(ad_id)
        seconds = time.monotonic() - t0
        billed = before - await self.wallet()
        events = sum(1 for a in answers if a.get("cost_micros", 0) > 0)
        return {
            "attack": name,
            "requests": len(answers),
            "billed_events": events,
            "billed_micros": billed,
            "seconds": round(seconds, 3),
        }


async def run(stack: Stack, count: int) -> list[dict[str, Any]]:
    env = stack.env(RATE_LIMIT_PER_MINUTE=1_000_000, ADMIN_RATE_LIMIT_PER_MINUTE=1_000_000)
    api = stack.start_uvicorn("api", "api.app:app", env, cpus=None)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api.port}", timeout=30) as http:
        d = Drill(http, stack)
        ids = [uuid.uuid4().hex for _ in range(count)]

        async def forged(ad_id: int) -> list[dict[str, Any]]:
            return list(await asyncio.gather(*(d.report(d.viewer, ad_id, i) for i in ids)))

        async def instant(ad_id: int) -> list[dict[str, Any]]:
            tokens = [await d.served("preroll") for _ in range(count)]
            return list(await asyncio.gather(*(d.report(d.viewer, ad_id, t) for t in tokens)))

        async def replay(ad_id: int) -> list[dict[str, Any]]:
            token = await d.served("preroll")
            return list(await asyncio.gather(*(d.report(d.viewer, ad_id, token) for _ in ids)))

        async def clicks(ad_id: int) -> list[dict[str, Any]]:
            # The wallet holds 20 clicks: fund exactly that on top of what is there.
            tokens = [await d.served("banner") for _ in range(20)]
            await asyncio.gather(*(d.report(d.viewer, ad_id, t) for t in tokens))
            forged = [d.report(d.viewer, ad_id, i) for i in ids[:20]]
            await asyncio.gather(*forged)
            both = [*tokens, *ids[:20]]
            return list(await asyncio.gather(*(d.click(ad_id, t) for t in both)))

        async def competitor(ad_id: int) -> list[dict[str, Any]]:
            return list(await asyncio.gather(*(d.report(d.rival, ad_id, i) for i in ids)))

        return [
            await d.measure("forged", CPM, forged),
            await d.measure("instant", CPM, instant),
            await d.measure("replay", CPM, replay),
            await d.measure("clicks", CPC, clicks),
            await d.measure("competitor", CPM, competitor),
            await d.self_credit(),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100, help="requests per attack (≤ 200)")
    args = parser.parse_args()
    count = max(1, min(args.count, 200))
    with Stack() as stack:  # started outside the event loop: the migration runs its own
        results = asyncio.run(run(stack, count))
    print(json.dumps({"count": count, "results": results}, indent=1))


if __name__ == "__main__":
    main()
