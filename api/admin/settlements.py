"""Admin settlements: what each advertiser spent over a period, for invoicing.

A settlement covers the local dates [period_start, period_end) in APP_TIMEZONE and sums,
per advertiser, the debits of the wallet ledger in that time (billed impressions and
clicks). It is created as a `draft` and frozen at creation (the ledger is append-only and
the period is over, so a recount would give the same lines); an admin then `confirm`s it.
Periods never overlap (checked here, and by an exclusion constraint), so no spend is
settled twice. A period can be settled once its end is `SETTLE_DELAY` in the past, which
leaves time for billing transactions that started before the end to commit.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from msgspec import Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate, path_id
from api.admin.settlement_csv import settlement_csv
from api.pages import Page, PageQuery, sql_page
from core import audit
from core.errors import Conflict, NotFound
from core.web import decode_body, decode_query, invalid, ok
from core.web.spec import api_route

SETTLE_DELAY = timedelta(minutes=5)
MAX_DAYS = 366
EARLIEST = date(2000, 1, 1)  # nothing was billed before; keeps instants far from year 1


class SettlementBody(Struct, forbid_unknown_fields=True):
    period_start: date  # first local date included
    period_end: date  # first local date NOT included


class SettlementLine(Struct, frozen=True):
    advertiser_id: int
    impressions: int  # billed impressions (CPM)
    clicks: int  # billed clicks (CPC)
    amount_micros: int


class SettlementView(Struct, frozen=True):
    id: int
    period_start: date
    period_end: date
    status: str  # draft, confirmed
    total_micros: int
    created_at: datetime
    created_by: int | None
    confirmed_at: datetime | None
    confirmed_by: int | None
    lines: list[SettlementLine] | None = None  # in the detail and on create/confirm


_COLUMNS = (
    "id, period_start, period_end, status, total_micros, created_at, created_by,"
    " confirmed_at, confirmed_by"
)


def _instant(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


async def _get(session: AsyncSession, settlement_id: int, *, lock: bool = False) -> SettlementView:
    row = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS} FROM settlements WHERE id = :id"
                + (" FOR UPDATE" if lock else "")
            ),
            {"id": settlement_id},
        )
    ).first()
    if row is None:
        raise NotFound(f"no settlement {settlement_id}")
    lines = (
        await session.execute(
            text(
                "SELECT advertiser_id, impressions, clicks, amount_micros FROM settlement_lines"
                " WHERE settlement_id = :id ORDER BY advertiser_id"
            ),
            {"id": settlement_id},
        )
    ).all()
    return SettlementView(**row._mapping, lines=[SettlementLine(**r._mapping) for r in lines])


async def create_settlement(
    session: AsyncSession, body: SettlementBody, tz: ZoneInfo, actor_id: int
) -> SettlementView:
    if body.period_start < EARLIEST:
        raise invalid("period_start", f"must be on or after {EARLIEST.isoformat()}")
    if body.period_end <= body.period_start:
        raise invalid("period_end", "must be after period_start")
    if (body.period_end - body.period_start).days > MAX_DAYS:
        raise invalid("period_end", f"a period is at most {MAX_DAYS} days")
    start, end = _instant(body.period_start, tz), _instant(body.period_end, tz)
    if end + SETTLE_DELAY > datetime.now(tz):
        raise invalid(
            "period_end",
            "the period has not ended yet (or ended less than "
            f"{int(SETTLE_DELAY.total_seconds() // 60)} minutes ago)",
        )
    # Serialise creators, so the overlap check below is final (the constraint backs it up).
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('settlements'))"))
    clash = (
        await session.execute(
            text(
                "SELECT id FROM settlements WHERE daterange(period_start, period_end)"
                " && daterange(:s, :e) LIMIT 1"
            ),
            {"s": body.period_start, "e": body.period_end},
        )
    ).first()
    if clash is not None:
        raise Conflict(
            f"the period overlaps settlement {clash[0]}", details={"settlement_id": clash[0]}
        )
    lines = (
        await session.execute(
            text(
                "SELECT advertiser_id, count(*) FILTER (WHERE kind = 'impression'),"
                " count(*) FILTER (WHERE kind = 'click'), -sum(amount_micros)"
                " FROM wallet_transactions WHERE kind IN ('impression', 'click')"
                " AND created_at >= :start AND created_at < :end GROUP BY advertiser_id"
            ),
            {"start": start, "end": end},
        )
    ).all()
    total = sum(int(line[3]) for line in lines)
    settlement_id = (
        await session.execute(
            text(
                "INSERT INTO settlements (period_start, period_end, total_micros, created_by)"
                " VALUES (:s, :e, :t, :by) RETURNING id"
            ),
            {"s": body.period_start, "e": body.period_end, "t": total, "by": actor_id},
        )
    ).scalar_one()
    for line in lines:
        await session.execute(
            text(
                "INSERT INTO settlement_lines (settlement_id, advertiser_id, impressions, clicks,"
                " amount_micros) VALUES (:id, :a, :i, :c, :m)"
            ),
            {"id": settlement_id, "a": line[0], "i": line[1], "c": line[2], "m": line[3]},
        )
    return await _get(session, settlement_id)


def _summary(view: SettlementView) -> dict[str, Any]:
    return {
        "id": view.id,
        "period_start": view.period_start,
        "period_end": view.period_end,
        "status": view.status,
        "total_micros": view.total_micros,
    }


async def post_settlement(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    body = await decode_body(request, SettlementBody)
    async with request.app.state.sessions.begin() as session:
        view = await create_settlement(
            session, body, request.app.state.settings.tz, identity.user_id
        )
        audit.record(
            session,
            identity.user_id,
            "settlement.create",
            f"settlement:{view.id}",
            None,
            _summary(view),
        )
    return ok(request, view, 201)


async def confirm_settlement(request: Request) -> Response:
    identity = await authenticate(request, ADMIN)
    settlement_id = path_id(request)
    async with request.app.state.sessions.begin() as session:
        before = await _get(session, settlement_id, lock=True)
        if before.status == "confirmed":
            return ok(request, before)
        await session.execute(
            text(
                "UPDATE settlements SET status = 'confirmed', confirmed_at = now(),"
                " confirmed_by = :by WHERE id = :id"
            ),
            {"id": settlement_id, "by": identity.user_id},
        )
        after = await _get(session, settlement_id)
        audit.record(
            session,
            identity.user_id,
            "settlement.confirm",
            f"settlement:{settlement_id}",
            _summary(before),
            _summary(after),
        )
    return ok(request, after)


async def list_settlements(request: Request) -> Response:
    await authenticate(request, ADMIN)
    query = decode_query(request, PageQuery)
    async with request.app.state.sessions() as session:
        settlements = await sql_page(
            session,
            query,
            "settlements",
            f"SELECT {_COLUMNS} FROM settlements"
            " WHERE CAST(:after AS bigint) IS NULL OR id < :after ORDER BY id DESC LIMIT :n",
            SettlementView,
        )
    return ok(request, settlements)


async def get_settlement(request: Request) -> Response:
    await authenticate(request, ADMIN)
    settlement_id = path_id(request)
    async with request.app.state.sessions() as session:
        view = await _get(session, settlement_id)
    return ok(request, view)


TAGS = ("admin",)
routes = [
    api_route(
        "GET",
        "/api/admin/settlements",
        list_settlements,
        summary="List settlements, newest first (without lines)",
        auth="admin",
        query=PageQuery,
        response=Page[SettlementView],
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/settlements",
        post_settlement,
        summary="Settle advertiser spend over a past period of local dates (draft)",
        auth="admin",
        body=SettlementBody,
        response=SettlementView,
        status=201,
        errors=["conflict"],
        tags=TAGS,
    ),
    api_route(
        "GET",
        "/api/admin/settlements/{id:int}",
        get_settlement,
        summary="One settlement with its lines",
        auth="admin",
        response=SettlementView,
        tags=TAGS,
    ),
    api_route(
        "POST",
        "/api/admin/settlements/{id:int}/confirm",
        confirm_settlement,
        summary="Confirm a draft settlement",
        auth="admin",
        response=SettlementView,
        tags=TAGS,
    ),
]


async def export_settlement(request: Request) -> Response:
    await authenticate(request, ADMIN)
    settlement_id = path_id(request)
    async with request.app.state.sessions() as session:
        view = await _get(session, settlement_id)
        emails = dict(
            (
                await session.execute(
                    text(
                        "SELECT u.id, u.email FROM users u JOIN settlement_lines l"
                        " ON l.advertiser_id = u.id WHERE l.settlement_id = :id"
                    ),
                    {"id": settlement_id},
                )
            ).all()
        )
    return Response(
        settlement_csv(view, emails),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="settlement-{settlement_id}.csv"'},
    )


routes.append(
    api_route(
        "GET",
        "/api/admin/settlements/{id:int}/csv",
        export_settlement,
        summary="One settlement's lines as a CSV file, for the books",
        auth="admin",
        response=str,
        csv="UTF-8 with a byte-order mark, CRLF; columns settlement_id, period_start, "
        "period_end, status, advertiser_id, advertiser_email, impressions, clicks, "
        "amount_micros, amount_krw (exact, six decimals)",
        tags=TAGS,
    )
)
