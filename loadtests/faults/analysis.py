"""After the run: wait for the outbox to drain, then hold the ledger against what players
were told and what Redis recorded as granted (losses, duplicates, overpayment, balances)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadtests.faults.model import PARTITIONS, REWARD_INTERVAL_MS, FaultResult, Options
from loadtests.faults.observe import (
    failures_between,
    locust_failures,
    locust_summary,
    parse_reward_id,
    read_reward_log,
)
from loadtests.stack import Stack


class Analysis:
    """Mixed into the Drill, which holds the state below."""

    opts: Options
    stack: Stack
    reward_log: Path
    load_prefix: Path
    load_started: float
    players: dict[str, Any] | None

    if TYPE_CHECKING:

        def say(self, text: str) -> None: ...

    async def wait_drained(self) -> tuple[bool, float]:
        """Until no outbox entry is left or pending (every grant made before the load stopped
        is then committed and acknowledged), bounded."""
        from redis.asyncio import Redis

        from live import keys

        assert self.stack.redis
        client = Redis.from_url(self.stack.redis.url)
        started = time.time()
        try:
            while time.time() - started < self.opts.drain_timeout_s:
                pipe = client.pipeline(transaction=False)
                for p in range(PARTITIONS):
                    pipe.xlen(keys.outbox(p))
                if sum(await pipe.execute()) == 0:
                    return True, round(time.time() - started, 2)
                await asyncio.sleep(0.25)
            return False, round(time.time() - started, 2)
        finally:
            await client.aclose()

    async def analyse(self, results: list[FaultResult], baseline_end: float) -> dict[str, Any]:
        import asyncpg
        from redis.asyncio import Redis

        from live import keys

        assert self.stack.redis and self.stack.pg
        drained, drain_s = await self.wait_drained()
        self.say(f"outbox drained: {drained} ({drain_s}s)")
        seen = read_reward_log(self.reward_log)
        conn = await asyncpg.connect(self.stack.pg.dsn, timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT reward_id, user_id, content_id, amount, "
                "extract(epoch FROM created_at)::float8 AS t FROM coin_transactions "
                "WHERE kind = 'watch'"
            )
            dup_ids = await conn.fetch(
                "SELECT reward_id, count(*) AS n FROM coin_transactions "
                "WHERE reward_id IS NOT NULL GROUP BY reward_id HAVING count(*) > 1"
            )
            # Held grants (multi-account review, where the schema has it) are in the ledger
            # but not in the balance until approved.
            has_status = await conn.fetchval(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = "
                "'coin_transactions' AND column_name = 'status'"
            )
            paid = "c.status = 'paid'" if has_status else "true"
            held = (
                await conn.fetchval("SELECT count(*) FROM coin_transactions WHERE status = 'held'")
                if has_status
                else 0
            )
            bad_balances = await conn.fetch(
                "SELECT u.id, u.balance, coalesce(sum(c.amount), 0) AS ledger FROM users u "
                f"LEFT JOIN coin_transactions c ON c.user_id = u.id AND {paid} GROUP BY u.id "
                "HAVING u.balance <> coalesce(sum(c.amount), 0)"
            )
            pg_balance = dict(await conn.fetch("SELECT id, balance FROM users"))
        finally:
            await conn.close()
        ledger = {r["reward_id"]: r for r in rows}
        # A (user, content, boundary) paid twice: the reward id encodes it, so this is the
        # same as a repeated id unless ids were ever built differently; count both.
        boundaries = Counter(parse_reward_id(rid) for rid in ledger)
        boundary_dups = [b for b, n in boundaries.items() if n > 1]
        # Nobody can be paid for more boundaries than the wall-clock time since the load
        # started allows (credit never exceeds real time; one session per user).
        per_user: dict[int, list[float]] = defaultdict(list)
        for r in rows:
            per_user[r["user_id"]].append(r["t"])
        overpaid = {
            uid: len(ts)
            for uid, ts in per_user.items()
            if len(ts) > (max(ts) - self.load_started) * 1000 / REWARD_INTERVAL_MS + 1
        }
        client = Redis.from_url(self.stack.redis.url, decode_responses=True)
        try:
            # With no daily cap and rewards never paused (DRILL_ENV), every boundary up to a
            # content's highest index n was granted: ids 1..n.
            granted: set[str] = set()
            async for key in client.scan_iter(match="{p*}:u:*:watch", count=1000):
                uid = key.split(":")[2]
                for name, value in (await client.hgetall(key)).items():
                    if name.startswith("n:"):
                        granted.update(f"w:{uid}:{name[2:]}:{n}" for n in range(1, int(value) + 1))
            dead = 0
            cache_mismatch: list[int] = []
            for p in range(PARTITIONS):
                dead += await client.xlen(keys.dead_letters(p))
            async for key in client.scan_iter(match="{p*}:u:*:bal", count=1000):
                uid = int(key.split(":")[2])
                bal = await client.hgetall(key)
                if int(bal.get("pend", 0)) != 0 or (
                    "pg" in bal and int(bal["pg"]) != pg_balance.get(uid)
                ):
                    cache_mismatch.append(uid)
        finally:
            await client.aclose()
        lost_redis = sorted(granted - set(ledger))
        not_in_redis = sorted(set(ledger) - granted)
        lost_seen = sorted(set(seen) - set(ledger))
        # Per phase: grants made (ledger time), rewards players saw, and which of those are
        # missing, by the time the player saw them.
        baseline_grants = sum(1 for r in rows if self.load_started <= r["t"] < baseline_end)
        rate = baseline_grants / max(1e-9, baseline_end - self.load_started)
        history = locust_failures(self.load_prefix) if self.opts.load == "locust" else None
        for r in results:
            lo, hi = r.injected_at, r.phase_end
            r.grants_made = sum(1 for row in rows if lo <= row["t"] < hi)
            r.rewards_seen = sum(1 for t in seen.values() if lo <= t < hi)
            r.lost_seen = [rid for rid in lost_seen if lo <= seen[rid] < hi]
            if r.fault == "redis_kill":
                # A Redis *process* crash loses nothing (the AOF is in the OS before Redis
                # answers); a machine crash may lose the last ~1 s (docs/money.md).
                r.allowed_loss = int(rate + 0.999)
                r.bound = f"0 (process); <=1 s ~{r.allowed_loss} on machine crash"
            if history is not None:
                r.client_failures = failures_between(history, lo, hi)
        totals = {
            "grants_in_ledger": len(ledger),
            "grants_held_for_review": held,
            "rewards_seen_by_players": len(seen),
            "granted_in_redis": len(granted),
            "lost_seen": lost_seen,
            "lost_redis": lost_redis,
            "in_ledger_not_in_redis": not_in_redis[:50],
            "duplicate_reward_ids": [(d["reward_id"], d["n"]) for d in dup_ids],
            "duplicate_boundaries": [list(b) for b in boundary_dups],
            "overpaid_users": overpaid,
            "dead_letters": dead,
            "balance_mismatch_users": [r["id"] for r in bad_balances],
            "balance_cache_mismatch_users": cache_mismatch[:50],
            "baseline_grants_per_s": round(rate, 1),
            "drained": drained,
            "drain_s": drain_s,
            "load": locust_summary(self.load_prefix)
            if self.opts.load == "locust"
            else self.players,
        }
        return {"results": results, "totals": totals}
