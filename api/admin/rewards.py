"""Admin box reward tables: read the table in force, upload a new one as CSV. The random
box's table is here; the gold box's (api/admin/gold.py) uses the same handlers (`table_routes`).

The upload is the CSV text itself (`Content-Type: text/csv`, e.g. `curl --data-binary
@odds.csv`), or JSON `{"csv": "..."}` (what the OpenAPI document describes). The whole file
is checked before anything is written: a bad row answers 400 with `details.line`, and the
table in force is unchanged. Each upload is audited (`rewards.upload`, before and after).
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from api.access import ADMIN, authenticate
from api.rewards import BOX, RewardTableView, current_table, insert_table, parse_csv
from core import audit
from core.bodies import MAX_BODY_BYTES
from core.errors import BadRequest
from core.web import decode_json, ok
from core.web.spec import ApiRoute, api_route

CSV_TYPES = ("text/csv", "text/plain", "application/csv")


class RewardUpload(Struct, forbid_unknown_fields=True):
    csv: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=MAX_BODY_BYTES,
            examples=["amount,weight\n10,70\n50,25\n500,5\n"],
        ),
    ]


async def _read(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, f"body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _csv_text(request: Request) -> str:
    raw = await _read(request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in CSV_TYPES:
        return decode_json(raw, RewardUpload).csv
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest(
            "the CSV must be UTF-8", details={"line": None, "field": None, "reason": "not UTF-8"}
        ) from None


def table_routes(box: str, path: str, what: str, action: str) -> list[ApiRoute]:
    """GET and POST `path`: the `box`'s reward table in force, and a CSV upload of a new one,
    audited as `action` (before and after)."""

    async def get_table(request: Request) -> Response:
        await authenticate(request, ADMIN)
        async with request.app.state.sessions() as session:
            table = await current_table(session, box)
        return ok(request, table)

    async def upload_table(request: Request) -> Response:
        identity = await authenticate(request, ADMIN)
        rows = parse_csv(await _csv_text(request))
        async with request.app.state.sessions.begin() as session:
            before = await current_table(session, box)
            after = await insert_table(session, rows, identity.user_id, box)
            audit.record(
                session,
                identity.user_id,
                action,
                "reward_table",
                None if before is None else {"id": before.id, "rows": before.rows},
                {"id": after.id, "rows": after.rows},
            )
        return ok(request, after, 201)

    # operationIds: getRewardTable for the random box (as before), getGoldRewardTable, ...
    prefix = "" if box == BOX else f"{box}_"
    get_table.__name__ = f"get_{prefix}reward_table"
    upload_table.__name__ = f"upload_{prefix}reward_table"
    return [
        api_route(
            "GET",
            path,
            get_table,
            summary=f"The {what} reward table in force (null before the first upload)",
            auth="admin",
            response=RewardTableView | None,
            tags=TAGS,
        ),
        api_route(
            "POST",
            path,
            upload_table,
            summary=f"Upload a new {what} reward table "
            "as CSV (amount,weight rows; text/csv body, or JSON {csv})",
            auth="admin",
            body=RewardUpload,
            response=RewardTableView,
            status=201,
            tags=TAGS,
        ),
    ]


TAGS = ("admin",)
routes = table_routes(BOX, "/api/admin/reward-table", "box", "rewards.upload")
