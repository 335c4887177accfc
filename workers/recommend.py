"""Recommendations, computed from `watch_sessions` by a cron job and served from tables.

A user has watched a content when one of their sessions on it was credited some time
(`credited_ms > 0`: opening a page and not playing is not watching). From those pairs:

- related contents (`content_related`): for each content, the contents its viewers also
  watched, scored by the cosine of the two viewer sets (co-viewers / sqrt(viewers x
  viewers): a content everyone watches is not related to everything), plus a smaller share
  for the tags they have in common (Jaccard x TAG_WEIGHT), so a content with few viewers
  still finds its kin by tag; the best RELATED_KEEP are kept;
- per user (`user_recommendations`): contents the user has not watched, scored by the
  similar viewers who watched them (each viewer counts with the cosine of the two users'
  watch sets); the best USER_KEEP are kept.

The job replaces both tables whole in one transaction, so a run twice (arq may) writes the
same rows, and a reader never sees half a run. `score` is pure (no I/O) and tested apart.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

RELATED_KEEP = 20
USER_KEEP = 50
TAG_WEIGHT = 0.25


@dataclass(frozen=True, slots=True)
class Related:
    content_id: int
    related_id: int
    score: float
    co_viewers: int
    shared_tags: int


@dataclass(frozen=True, slots=True)
class ForUser:
    user_id: int
    content_id: int
    score: float


def _top(rows: Iterable[Any], keep: int) -> list[Any]:
    return sorted(rows, key=lambda r: (-r.score, r.content_id, getattr(r, "related_id", 0)))[:keep]


def related(
    watched: Mapping[int, set[int]], tags: Mapping[int, set[str]], keep: int = RELATED_KEEP
) -> list[Related]:
    """Related contents from `watched` (user -> contents) and `tags` (content -> tags)."""
    viewers: dict[int, set[int]] = defaultdict(set)
    for user, contents in watched.items():
        for c in contents:
            viewers[c].add(user)
    co: dict[tuple[int, int], int] = defaultdict(int)
    for contents in watched.values():
        for a in contents:
            for b in contents:
                if a != b:
                    co[(a, b)] += 1
    by_tag: dict[str, set[int]] = defaultdict(set)
    for c, ts in tags.items():
        for t in ts:
            by_tag[t].add(c)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for members in by_tag.values():
        for a in members:
            for b in members:
                if a != b:
                    shared[(a, b)] += 1
    out: dict[int, list[Related]] = defaultdict(list)
    for a, b in set(co) | set(shared):
        n = co.get((a, b), 0)
        cosine = n / math.sqrt(len(viewers[a]) * len(viewers[b])) if n else 0.0
        s = shared.get((a, b), 0)
        union = len(tags.get(a, set()) | tags.get(b, set()))
        jaccard = s / union if union else 0.0
        out[a].append(Related(a, b, cosine + TAG_WEIGHT * jaccard, n, s))
    return [
        r
        for a in sorted(out)
        for r in sorted(out[a], key=lambda r: (-r.score, r.related_id))[:keep]
    ]


def for_users(watched: Mapping[int, set[int]], keep: int = USER_KEEP) -> list[ForUser]:
    """Per user, the unwatched contents that similar viewers watched, best first."""
    viewers: dict[int, set[int]] = defaultdict(set)
    for user, contents in watched.items():
        for c in contents:
            viewers[c].add(user)
    rows: list[ForUser] = []
    for user, mine in watched.items():
        overlap: dict[int, int] = defaultdict(int)
        for c in mine:
            for other in viewers[c]:
                if other != user:
                    overlap[other] += 1
        scores: dict[int, float] = defaultdict(float)
        for other, n in overlap.items():
            similarity = n / math.sqrt(len(mine) * len(watched[other]))
            for c in watched[other] - mine:
                scores[c] += similarity
        rows += _top((ForUser(user, c, s) for c, s in scores.items()), keep)
    return rows


_WATCHED = """
SELECT DISTINCT user_id, content_id FROM watch_sessions WHERE credited_ms > 0
"""
_TAGS = "SELECT id, tags FROM contents WHERE deleted_at IS NULL"


async def refresh(pool: Any) -> tuple[int, int]:
    """Recompute both tables from `watch_sessions` (one transaction); (related, per user)."""
    async with pool.acquire() as conn:
        pairs = await conn.fetch(_WATCHED)
        tag_rows = await conn.fetch(_TAGS)
    watched: dict[int, set[int]] = defaultdict(set)
    for user, content in pairs:
        watched[int(user)].add(int(content))
    tags = {int(r[0]): set(r[1] or ()) for r in tag_rows}
    known = set(tags)
    rel = [r for r in related(watched, tags) if r.content_id in known and r.related_id in known]
    users = [u for u in for_users(watched) if u.content_id in known]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM content_related")
        await conn.execute("DELETE FROM user_recommendations")
        await conn.executemany(
            "INSERT INTO content_related (content_id, related_id, score, co_viewers, shared_tags)"
            " VALUES ($1, $2, $3, $4, $5)",
            [(r.content_id, r.related_id, r.score, r.co_viewers, r.shared_tags) for r in rel],
        )
        # Users the ledger has never seen (no users row) have nothing to be shown to.
        await conn.executemany(
            "INSERT INTO user_recommendations (user_id, content_id, score)"
            " SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1)",
            [(u.user_id, u.content_id, u.score) for u in users],
        )
    return len(rel), len(users)
