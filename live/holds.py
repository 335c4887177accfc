"""An admin's review decision, applied to the hold flag in the user's Redis balance hash
(the api calls it after the PostgreSQL transaction of the decision committed).

It runs `decide.lua` through `live.scripts.run`, like `live.balance_cache` runs
`setbal.lua`. Unlike a cache refresh, a failure is raised: the api answers 503 and the
admin repeats the decision, which is idempotent. Until then the money is still right (the drain decides held or paid from PostgreSQL's
`users.review_hold`); only the shown balance lags (docs/money.md, "Multi-account review").
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from live import scripts
from live.keys import UserKeys

TIMEOUT_S = 2.0

Decision = Literal["approve", "reject"]


async def apply_decision(
    redis: Any, user_id: int, partitions: int, decision: Decision, exempt_ms: int
) -> bool:
    """approve: the user's hold is lifted, and no new flag holds it for `exempt_ms`; reject:
    the user stays on hold. Returns whether the user was on hold in Redis before. Raises
    what Redis raises (or TimeoutError)."""
    key = UserKeys(user_id, partitions).balance
    run = scripts.run(redis, scripts.DECIDE, (key,), (decision, exempt_ms))
    return int(await asyncio.wait_for(run, TIMEOUT_S)) == 1
