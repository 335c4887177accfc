"""Gold boxes: earned by the admin's rules, opened like a random box, drawn from their own
reward table (api/rewards.py, `GOLD`), paid through the ledger as kind `gold_box`.

- Earning: every `boxes_per_gold`-th random box opened (a grant `g:b:<user>:<box_no>` in
  the box open's transaction), or a mission whose reward is gold boxes (grants named after
  the mission's reward id). `gold_box_grants.source_id` is unique: an event earns once.
- Opening locks the user's row (api/rewards.py `lock_user`), so the n-th open gets gold box
  number n, and `gold_box_opens (user_id, gold_no)` is unique: never more opens than grants.
  The payment is a `coin_transactions` row of kind `gold_box`, reward id `gb:<user>:<n>`.
- `Idempotency-Key`: a retried open answers the first open's result and pays nothing.
- The admin's switch off: no box earns a gold box, and opens answer 409 `conflict`;
  gold boxes held stay held (and mission rewards still grant them) until it is on again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from msgspec import Struct
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api.access import authenticate
from api.idempotency import HEADER, idempotency_key, replay_headers
from api.pages import Page, PageQuery, decode_cursor, page
from api.rewards import GOLD, RewardRow, current_table, draw, lock_user, pay
from core import user_events
from core.errors import Conflict, NoGoldBox, Unavailable
from core.web import decode_query, ok
from core.web.spec import api_route
from live.balance_cache import cache_balance


class GoldRules(Struct, frozen=True):
    enabled: bool = False
    boxes_per_gold: int = 0  # one gold box per this many random boxes opened; 0: none


class GoldBoxStatus(Struct, frozen=True):
    enabled: bool
    earned: int  # gold boxes earned, ever
    opened: int
    available: int  # earned - opened
    boxes_opened: int  # random boxes opened, ever
    boxes_per_gold: int  # the rule in force (0: random boxes earn none)
    progress: int  # random boxes toward the next gold box
    next_gold_in: int | None  # random boxes still to open for the next (null: no such rule)
    reward_table_id: int | None
    odds: list[RewardRow]


class GoldBoxOpenView(Struct, frozen=True):
    id: int
    gold_no: int
    amount: int
    balance: int
    reward_id: str  # gb:<user>:<gold_no>
    transaction_id: int
    reward_table_id: int
    created_at: datetime


class GoldBoxEvent(Struct, frozen=True):
    kind: Literal["earned", "opened"]
    id: int  # the grant's or the open's id
    at: datetime
    source: str | None  # earned: boxes | mission
    source_id: str | None  # earned: the event that earned it
    amount: int | None  # opened: coins paid
    reward_id: str | None  # opened: the ledger entry


async def load_rules(session: AsyncSession) -> GoldRules:
    row = (
        await session.execute(text("SELECT enabled, boxes_per_gold FROM gold_box_rules"))
    ).first()
    return GoldRules() if row is None else GoldRules(bool(row[0]), int(row[1]))


async def grant(session: AsyncSession, user_id: int, source: str, source_id: str) -> bool:
    """Earn one gold box for `source_id` (no commit); False when that event earned one."""
    row = (
        await session.execute(
            text(
                "INSERT INTO gold_box_grants (user_id, source, source_id) VALUES (:u, :s, :i)"
                " ON CONFLICT (source_id) DO NOTHING RETURNING id"
            ),
            {"u": user_id, "s": source, "i": source_id},
        )
    ).first()
    return row is not None


async def earn_from_boxes(session: AsyncSession, user_id: int, box_no: int) -> None:
    """The user just opened random box `box_no`: a gold box when the rule says so."""
    rules = await load_rules(session)
    if rules.enabled and rules.boxes_per_gold > 0 and box_no % rules.boxes_per_gold == 0:
        await grant(session, user_id, "boxes", f"g:b:{user_id}:{box_no}")


async def _counts(session: AsyncSession, user_id: int) -> tuple[int, int, int]:
    """(gold boxes earned, gold boxes opened, random boxes opened) of a user."""
    row = (
        await session.execute(
            text(
                "SELECT (SELECT count(*) FROM gold_box_grants WHERE user_id = :u),"
                " (SELECT count(*) FROM gold_box_opens WHERE user_id = :u),"
                " (SELECT count(*) FROM box_opens WHERE user_id = :u)"
            ),
            {"u": user_id},
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def get_gold_box(request: Request) -> Response:
    identity = await authenticate(request)
    async with request.app.state.sessions() as session:
        rules = await load_rules(session)
        earned, opened, boxes = await _counts(session, identity.user_id)
        table = await current_table(session, GOLD)
    n = rules.boxes_per_gold if rules.enabled else 0
    progress = boxes % n if n else 0
    return ok(
        request,
        GoldBoxStatus(
            enabled=rules.enabled,
            earned=earned,
            opened=opened,
            available=max(0, earned - opened),
            boxes_opened=boxes,
            boxes_per_gold=n,
            progress=progress,
            next_gold_in=n - progress if n else None,
            reward_table_id=table.id if table else None,
            odds=table.rows if table else [],
        ),
    )


_OPEN = (
    "SELECT o.id, o.gold_no, o.amount, o.balance_after AS balance, t.reward_id,"
    " o.transaction_id, o.reward_table_id, o.created_at"
    " FROM gold_box_opens o JOIN coin_transactions t ON t.id = o.transaction_id"
)


def _open_view(row: Row[Any]) -> GoldBoxOpenView:
    return GoldBoxOpenView(**row._mapping)


async def open_held(
    session: AsyncSession, user_id: int, key: str | None
) -> tuple[GoldBoxOpenView, bool, int]:
    """Open the user's next gold box: (the open, replayed?, balance_version). Raises
    NoGoldBox with none held, Conflict while switched off, Unavailable before the first
    gold table. No commit."""
    await lock_user(session, user_id)
    if key is not None:
        found = (
            await session.execute(
                text(f"{_OPEN} WHERE o.user_id = :u AND o.idempotency_key = :k"),
                {"u": user_id, "k": key},
            )
        ).first()
        if found is not None:
            return _open_view(found), True, 0
    earned, opened, _ = await _counts(session, user_id)
    if earned <= opened:
        raise NoGoldBox("no unopened gold box", details={"earned": earned, "opened": opened})
    if not (await load_rules(session)).enabled:
        raise Conflict("gold boxes are switched off", details={"reason": "switched_off"})
    table = await current_table(session, GOLD)
    if table is None:
        raise Unavailable("gold boxes cannot be opened before a gold reward table is uploaded")
    amount = draw(table)
    gold_no = opened + 1
    reward_id = f"gb:{user_id}:{gold_no}"
    tx_id, balance, version = await pay(session, user_id, "gold_box", amount, reward_id)
    open_id, created_at = (
        await session.execute(
            text(
                "INSERT INTO gold_box_opens (user_id, gold_no, idempotency_key, amount,"
                " balance_after, reward_table_id, transaction_id)"
                " VALUES (:u, :n, :k, :a, :b, :t, :tx) RETURNING id, created_at"
            ),
            {
                "u": user_id,
                "n": gold_no,
                "k": key,
                "a": amount,
                "b": balance,
                "t": table.id,
                "tx": tx_id,
            },
        )
    ).one()
    await user_events.record(
        session, user_id, user_events.GOLD_BOX_OPEN, {"reward_id": reward_id, "amount": amount}
    )
    view = GoldBoxOpenView(
        open_id, gold_no, amount, balance, reward_id, tx_id, table.id, created_at
    )
    return view, False, version


async def open_gold_box(request: Request) -> Response:
    identity = await authenticate(request)
    key = idempotency_key(request, required=False)
    async with request.app.state.sessions.begin() as session:
        result, replayed, version = await open_held(session, identity.user_id, key)
    if not replayed:
        state = request.app.state
        await cache_balance(
            state.redis, identity.user_id, state.settings.redis_partitions, result.balance, version
        )
    return ok(request, result, 201, headers=replay_headers(replayed))


# Newest first over both tables; the cursor holds the last item's (time in µs, kind, id).
_HISTORY = """
SELECT * FROM (
    SELECT 'earned' AS kind, g.id, g.created_at AS at, g.source, g.source_id,
           NULL::bigint AS amount, NULL::text AS reward_id
    FROM gold_box_grants g WHERE g.user_id = :u
    UNION ALL
    SELECT 'opened', o.id, o.created_at, NULL, NULL, o.amount, t.reward_id
    FROM gold_box_opens o JOIN coin_transactions t ON t.id = o.transaction_id
    WHERE o.user_id = :u
) h
WHERE CAST(:us AS bigint) IS NULL
   OR (CAST(extract(epoch FROM h.at) * 1000000 AS bigint), h.kind, h.id) < (:us, :k, :i)
ORDER BY h.at DESC, h.kind DESC, h.id DESC
LIMIT :n
"""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _key(event: GoldBoxEvent) -> tuple[int, str, int]:
    # Exact microseconds (PostgreSQL's extract(epoch) is numeric, exact too).
    return ((event.at - _EPOCH) // timedelta(microseconds=1), event.kind, event.id)


async def get_gold_box_history(request: Request) -> Response:
    identity = await authenticate(request)
    query = decode_query(request, PageQuery)
    after = decode_cursor(query.cursor, "gold_box_history", tuple[int, str, int])
    us, k, i = after if after else (None, None, None)
    async with request.app.state.sessions() as session:
        found = (
            await session.execute(
                text(_HISTORY),
                {"u": identity.user_id, "us": us, "k": k, "i": i, "n": query.limit + 1},
            )
        ).all()
    events = [GoldBoxEvent(**row._mapping) for row in found]
    return ok(request, page(events, query.limit, "gold_box_history", _key))


TAGS = ("boxes",)
routes = [
    api_route(
        "GET",
        "/api/gold-box",
        get_gold_box,
        summary="Gold boxes held, progress to the next one, and the odds in force",
        response=GoldBoxStatus,
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/gold-box/history",
        get_gold_box_history,
        summary="The gold boxes the caller earned and opened, newest first",
        query=PageQuery,
        response=Page[GoldBoxEvent],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/gold-box/open",
        open_gold_box,
        summary="Open a gold box held (Idempotency-Key: a retry answers the first result)",
        response=GoldBoxOpenView,
        status=201,
        errors=["bad_request", "no_gold_box", "conflict", "unavailable"],
        headers=[HEADER],
        tags=TAGS,
    ),
]
