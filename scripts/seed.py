"""Seed a small demo catalog and the dev users, once.

Inserts 8 published demo contents (public sample videos, with tags) when the contents table
is empty, the dev admin (id 1) and viewer (id 2) users when they are missing, and two demo
viewers (ids 3 and 4) that the multi-account review flagged on a shared device, so the review
queue has something to decide. Safe to run again: it never duplicates or overwrites
anything.

    DATABASE_URL=postgresql+asyncpg://... .venv/bin/python -m scripts.seed
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import create_async_engine

from core.models import AccountReview, Content, User

# Ids below the registered-account range (1e9+): the dev tokens printed by scripts/run.sh
# name these users.
DEV_ADMIN_ID = 1
DEV_VIEWER_ID = 2
DEMO_FLAGGED_IDS = (3, 4)  # flagged on one device: open reviews in the queue

_SAMPLES = "https://commondatastorage.googleapis.com/gtv-videos-bucket/sample/"

DEMO_CONTENTS: list[dict[str, Any]] = [
    {
        "title": "Big Buck Bunny",
        "file": "BigBuckBunny.mp4",
        "duration_s": 596,
        "tags": ["animation", "comedy"],
    },
    {
        "title": "Elephants Dream",
        "file": "ElephantsDream.mp4",
        "duration_s": 653,
        "tags": ["animation", "scifi"],
    },
    {"title": "Sintel", "file": "Sintel.mp4", "duration_s": 888, "tags": ["animation", "fantasy"]},
    {
        "title": "Tears of Steel",
        "file": "TearsOfSteel.mp4",
        "duration_s": 734,
        "tags": ["scifi", "live-action"],
    },
    {
        "title": "Subaru Outback On Street And Dirt",
        "file": "SubaruOutbackOnStreetAndDirt.mp4",
        "duration_s": 594,
        "tags": ["cars", "review"],
    },
    {
        "title": "We Are Going On Bullrun",
        "file": "WeAreGoingOnBullrun.mp4",
        "duration_s": 47,
        "tags": ["cars", "short"],
    },
    {
        "title": "For Bigger Escapes",
        "file": "ForBiggerEscapes.mp4",
        "duration_s": 15,
        "tags": ["travel", "short"],
    },
    # A short reward interval, to see a reward arrive within a demo.
    {
        "title": "For Bigger Fun (quick rewards)",
        "file": "ForBiggerFun.mp4",
        "duration_s": 60,
        "tags": ["short", "demo"],
        "reward_interval_ms": 10_000,
    },
]


async def seed(database_url: str) -> dict[str, int]:
    """Insert what is missing; return how many contents and users were inserted."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            users = await conn.execute(
                insert(User)
                .values(
                    [
                        {
                            "id": DEV_ADMIN_ID,
                            "email": "admin@example.com",
                            "roles": ["admin", "viewer"],
                            "review_hold": False,
                        },
                        {
                            "id": DEV_VIEWER_ID,
                            "email": "viewer@example.com",
                            "roles": ["viewer"],
                            "review_hold": False,
                        },
                        *(
                            {"id": i, "email": None, "roles": ["viewer"], "review_hold": True}
                            for i in DEMO_FLAGGED_IDS
                        ),
                    ]
                )
                .on_conflict_do_nothing()
            )
            await conn.execute(
                insert(AccountReview)
                .values(
                    [
                        {
                            "flag_id": f"demo:device:{i}",
                            "user_id": i,
                            "reason": "device",
                            "key": "demo-shared-device",
                            "accounts": len(DEMO_FLAGGED_IDS),
                        }
                        for i in DEMO_FLAGGED_IDS
                    ]
                )
                .on_conflict_do_nothing()
            )
            count = (await conn.execute(select(func.count()).select_from(Content))).scalar_one()
            inserted = 0
            if count == 0:
                now = datetime.now(UTC)
                rows = [
                    {
                        "title": c["title"],
                        "source_url": _SAMPLES + c["file"],
                        "duration_s": c["duration_s"],
                        "tags": c["tags"],
                        "status": "published",
                        "reward_interval_ms": c.get("reward_interval_ms"),
                        "published_at": now,
                    }
                    for c in DEMO_CONTENTS
                ]
                await conn.execute(insert(Content).values(rows))
                inserted = len(rows)
        return {"contents": inserted, "users": users.rowcount or 0}
    finally:
        await engine.dispose()


def main() -> int:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        print("seed: DATABASE_URL is required", file=sys.stderr)
        return 2
    done = asyncio.run(seed(url))
    print(f"seed: inserted {done['contents']} contents, {done['users']} users")
    return 0


if __name__ == "__main__":
    sys.exit(main())
