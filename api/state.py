"""What the api process holds between requests: clients, and the control snapshot (blocks
and runtime settings) that a background task refreshes from PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from core import blocks, runtime
from core.blocks import Blocks
from core.knobs import RuntimeSettings
from core.settings import Settings
from core.users import provision_user
from live import nudges

log = logging.getLogger(__name__)

KNOWN_USERS_MAX = 100_000


class Control:
    """The blocks and runtime settings this process enforces, at most CONTROL_POLL_MS old,
    and the user ids that it knows to exist in PostgreSQL."""

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.engine = engine
        self.blocks = Blocks()
        self.runtime: RuntimeSettings = runtime.defaults(settings)
        self.known_users: set[int] = set()
        self._now = asyncio.Event()

    async def refresh(self) -> None:
        async with self.engine.connect() as conn:
            new_blocks = await blocks.load_blocks(conn)
            new_runtime = await runtime.load_runtime(conn, self.settings)
        self.blocks, self.runtime = new_blocks, new_runtime

    async def try_refresh(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # noqa: BLE001 - keep serving the last snapshot; /ready says why
            log.warning("control refresh failed: %s: %s", type(exc).__name__, exc)

    def nudge(self) -> None:
        """A control nudge arrived (live.nudges): refresh now rather than at the poll."""
        self._now.set()

    async def run(self, refreshed: Callable[[str], None]) -> None:
        """Refresh at once on a nudge, else every CONTROL_POLL_MS; cancelled at shutdown."""
        await nudges.refresh_loop(
            self._now, self.settings.control_poll_ms / 1000, self.refresh, refreshed
        )

    async def ensure_user(self, user_id: int, roles: frozenset[str]) -> None:
        """Provision a token's user on first use (once per process per user)."""
        if user_id in self.known_users:
            return
        async with self.engine.begin() as conn:
            await provision_user(conn, user_id, sorted(roles) or ["viewer"])
        if len(self.known_users) >= KNOWN_USERS_MAX:
            self.known_users.clear()  # a cache miss costs one idempotent INSERT
        self.known_users.add(user_id)


def control(request: Request) -> Control:
    return request.app.state.control  # type: ignore[no-any-return]
