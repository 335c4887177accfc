"""One batch of outbox entries written to PostgreSQL (asyncpg, column arrays + `unnest`).

`write` runs inside the caller's transaction and never commits: the drain loop owns the
transaction and acknowledges the entries in Redis only after the commit. Every statement is
idempotent, so a batch that is written again (a replay after a crash between commit and ack)
changes nothing:

- grants: INSERT ... ON CONFLICT (reward_id) DO NOTHING RETURNING, and each user's balance
  grows by the sum of the rows that were *newly* inserted, with balance_version + 1;
- session events: upserted by session id (a start fills what an end-only row lacked; the
  first end wins), and a content's view_count grows by one per newly inserted session row
  that came with its start;
- review flags (multi-account review, docs/money.md): a row per flag id (ON CONFLICT DO
  NOTHING), and the users of new rows get `review_hold`; written before the grants, so that
  a user's held grants find the flag that held them;
- grants marked held: the users' rows are locked (FOR UPDATE, in id order: an admin's
  approval locks the same row) and `review_hold` decides: inserted with status `held`
  (balance untouched) while it is set, else written as ordinary paid grants (the user was
  approved after the hub held them).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from workers.entries import Batch, Grant, grant_columns

# Users known only from a token have no row yet; the ledger's foreign key needs one.
_PROVISION = """
INSERT INTO users (id) OVERRIDING SYSTEM VALUE
SELECT u FROM unnest($1::bigint[]) AS u
ON CONFLICT (id) DO NOTHING
"""

_GRANTS = """
WITH ins AS (
    INSERT INTO coin_transactions (user_id, kind, amount, reward_id, content_id, created_at)
    SELECT g.u, 'watch', g.a, g.r, g.c, to_timestamp(g.ts / 1000.0)
    FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
         AS g(r, u, c, a, ts)
    ON CONFLICT (reward_id) DO NOTHING
    RETURNING user_id, amount
), per_user AS (
    SELECT user_id, sum(amount)::bigint AS total, count(*) AS n FROM ins GROUP BY user_id
)
UPDATE users
SET balance = users.balance + per_user.total,
    balance_version = users.balance_version + 1,
    updated_at = now()
FROM per_user
WHERE users.id = per_user.user_id
RETURNING users.id, users.balance, users.balance_version, per_user.n
"""

_BALANCES = "SELECT id, balance, balance_version FROM users WHERE id = ANY($1::bigint[])"

_FLAGS = """
WITH ins AS (
    INSERT INTO account_reviews (flag_id, user_id, reason, key, accounts, created_at)
    SELECT f.i, f.u, f.r, f.k, f.n, to_timestamp(f.ts / 1000.0)
    FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::bigint[])
         AS f(i, u, r, k, n, ts)
    ON CONFLICT (flag_id) DO NOTHING
    RETURNING user_id
), hold AS (
    UPDATE users SET review_hold = true
    WHERE id IN (SELECT user_id FROM ins) AND NOT review_hold
)
SELECT count(*) FROM ins
"""

_ON_HOLD = """
SELECT id FROM users WHERE id = ANY($1::bigint[]) AND review_hold ORDER BY id FOR UPDATE
"""

_HELD = """
INSERT INTO coin_transactions (user_id, kind, amount, reward_id, content_id, created_at, status)
SELECT g.u, 'watch', g.a, g.r, g.c, to_timestamp(g.ts / 1000.0), 'held'
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
     AS g(r, u, c, a, ts)
ON CONFLICT (reward_id) DO NOTHING
"""

# device_id '' marks a row made from an end whose start has not been seen.
_SESSIONS = """
INSERT INTO watch_sessions AS w
    (session_id, user_id, content_id, device_id, tab_id, started_at, ended_at, credited_ms,
     end_reason)
SELECT x.s, x.u, x.c, coalesce(x.d, ''), coalesce(x.t, ''),
       to_timestamp(coalesce(x.st, x.et) / 1000.0), to_timestamp(x.et / 1000.0),
       coalesce(x.wms, 0), x.why
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[],
            $7::bigint[], $8::bigint[], $9::text[]) AS x(s, u, c, d, t, st, et, wms, why)
ON CONFLICT (session_id) DO UPDATE SET
    device_id = CASE WHEN w.device_id = '' THEN EXCLUDED.device_id ELSE w.device_id END,
    tab_id = CASE WHEN w.tab_id = '' THEN EXCLUDED.tab_id ELSE w.tab_id END,
    started_at = least(w.started_at, EXCLUDED.started_at),
    ended_at = coalesce(w.ended_at, EXCLUDED.ended_at),
    credited_ms = CASE WHEN w.ended_at IS NULL THEN EXCLUDED.credited_ms ELSE w.credited_ms END,
    end_reason = coalesce(w.end_reason, EXCLUDED.end_reason)
RETURNING w.content_id, (w.xmax = 0 AND w.device_id <> '') AS counted
"""

# One row at a time in content id order: every drain loop locks content rows in the same
# order, so two loops counting views of the same contents wait for each other, never deadlock.
_VIEWS = "UPDATE contents SET view_count = view_count + $2 WHERE id = $1"


@dataclass(slots=True)
class Written:
    """What a committed batch changed: the balances to cache in Redis (user -> (balance,
    version)), and counts for the metrics."""

    balances: dict[int, tuple[int, int]] = field(default_factory=dict)
    users: list[int] = field(default_factory=list)  # users of the grants (their rows exist)
    grants_inserted: int = 0
    grants_replayed: int = 0  # already in the ledger: a replay, written nothing
    grants_held: int = 0  # inserted with status held (their users are on hold)
    flags: int = 0  # review rows inserted
    sessions: int = 0
    views: int = 0

    def merge(self, other: Written) -> None:
        for uid, (balance, version) in other.balances.items():
            mine = self.balances.get(uid)
            if mine is None or version > mine[1]:
                self.balances[uid] = (balance, version)
        self.users += other.users
        self.grants_inserted += other.grants_inserted
        self.grants_replayed += other.grants_replayed
        self.grants_held += other.grants_held
        self.flags += other.flags
        self.sessions += other.sessions
        self.views += other.views


async def write(conn: Any, batch: Batch, known: AbstractSet[int] = frozenset()) -> Written:
    """Write `batch` on asyncpg connection `conn`, inside the caller's transaction. `known`:
    users whose row is known to exist (committed earlier); the others are provisioned."""
    out = Written()
    users = batch.users()
    if users:
        out.users = users
        unknown = [u for u in users if u not in known]
        if unknown:
            await conn.execute(_PROVISION, unknown)
    if batch.flags:
        out.flags = int(await conn.fetchval(_FLAGS, *batch.flag_columns()))
    grants = batch.grants
    if batch.held:
        grants = list(grants)
        on_hold = {
            r[0] for r in await conn.fetch(_ON_HOLD, sorted({g.user_id for g in batch.held}))
        }
        held: list[Grant] = []
        for g in batch.held:
            (held if g.user_id in on_hold else grants).append(g)
        if held:
            status = await conn.execute(_HELD, *grant_columns(held))
            out.grants_held = int(status.rsplit(" ", 1)[-1])
    if grants:
        for uid, balance, version, n in await conn.fetch(_GRANTS, *grant_columns(grants)):
            out.balances[uid] = (balance, version)
            out.grants_inserted += n
    n_grants = len(batch.grants) + len(batch.held)
    out.grants_replayed = n_grants - out.grants_inserted - out.grants_held
    if n_grants:
        # Users whose grants were all replays (or held): their cached balance may be older
        # than the ledger (Redis lost the ack that set it), so it is set again from here.
        others = sorted({g.user_id for g in (*batch.grants, *batch.held)} - set(out.balances))
        if others:
            for uid, balance, version in await conn.fetch(_BALANCES, others):
                out.balances[uid] = (balance, version)
    if batch.sessions:
        views: dict[int, int] = {}
        for content_id, counted in await conn.fetch(_SESSIONS, *batch.session_columns()):
            if counted:
                views[content_id] = views.get(content_id, 0) + 1
        out.sessions = len(batch.sessions)
        if views:
            await conn.executemany(_VIEWS, sorted(views.items()))
            out.views = sum(views.values())
    return out
