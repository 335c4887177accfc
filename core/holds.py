"""An admin's review decision, applied to the hold flag in the user's Redis balance hash
(the api calls it after the PostgreSQL transaction of the decision committed).

It runs the hub's own `decide.lua` (read from its file, called by SHA, loaded again on
NOSCRIPT), like `core.balance_cache` runs `setbal.lua`. Unlike a cache refresh, a failure is
raised: the api answers 503 and the admin repeats the decision, which is idempotent. Until
then the money is still right (the drain decides held or paid from PostgreSQL's
`users.review_hold`); only the shown balance lags (docs/money.md, "Multi-account review").
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from pathlib import Path
from typing import Any, Literal

from redis.exceptions import NoScriptError

from core.keys import UserKeys

DECIDE_PATH = Path(__file__).resolve().parent.parent / "realtime" / "live" / "lua" / "decide.lua"
TIMEOUT_S = 2.0

Decision = Literal["approve", "reject"]


@functools.cache
def _decide() -> tuple[str, str]:
    """(source, sha) of decide.lua, read once on first use."""
    source = DECIDE_PATH.read_text()
    return source, hashlib.sha1(source.encode()).hexdigest()


async def _run(redis: Any, key: str, decision: Decision, exempt_ms: int) -> int:
    source, sha = _decide()
    try:
        return int(await redis.evalsha(sha, 1, key, decision, exempt_ms))
    except NoScriptError:  # a restarted or failed-over Redis forgot it: it did not run
        await redis.script_load(source)
        return int(await redis.evalsha(sha, 1, key, decision, exempt_ms))


async def apply_decision(redis: Any, user_id: int, partitions: int, decision: Decision,
                         exempt_ms: int) -> bool:
    """approve: the user's hold is lifted, and no new flag holds it for `exempt_ms`; reject:
    the user stays on hold. Returns whether the user was on hold in Redis before. Raises
    what Redis raises (or TimeoutError)."""
    key = UserKeys(user_id, partitions).balance
    return await asyncio.wait_for(_run(redis, key, decision, exempt_ms), TIMEOUT_S) == 1
