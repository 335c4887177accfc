"""The box reward tables: weighted `amount,weight` rows that set the odds of a random box
(`box` = BOX) or of a gold box (`box` = GOLD); one parser, one store and one draw for both.

Uploads are CSV and are checked whole before anything is written (a bad row is refused with
its line number, nothing is half-applied). Every upload is a new version; the newest one is
in force and older ones stay for the record (each box open names the version it drew from).
Helpers never commit.
"""

from __future__ import annotations

import csv
import re
import secrets
from collections.abc import Sequence
from datetime import datetime

import msgspec
from msgspec import Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import BadRequest
from core.users import provision_user

BOX = "box"  # the random box
GOLD = "gold"  # the gold box
MAX_ROWS = 1000
AMOUNT_MAX = 1_000_000
WEIGHT_MAX = 1_000_000_000
_INT = re.compile(r"[0-9]+")


class RewardRow(Struct, frozen=True):
    amount: int
    weight: int
    probability: float  # weight / total weight, rounded to 6 places (for display)


class RewardTableView(Struct, frozen=True):
    id: int
    rows: list[RewardRow]
    total_weight: int
    created_at: datetime
    created_by: int | None


def _bad(line: int | None, reason: str, field: str | None = None) -> BadRequest:
    where = f"line {line}: " if line is not None else ""
    return BadRequest(
        f"reward table: {where}{reason}", details={"line": line, "field": field, "reason": reason}
    )


def _int(value: str, line: int, field: str, low: int, high: int) -> int:
    value = value.strip()
    if _INT.fullmatch(value) is None:
        raise _bad(line, f"{field} must be a whole number, got {value!r}", field)
    number = int(value)
    if not low <= number <= high:
        raise _bad(line, f"{field} must be between {low} and {high}, got {number}", field)
    return number


def parse_csv(body: str) -> list[tuple[int, int]]:
    """`(amount, weight)` rows of a CSV text. Lines are numbered from 1 as in the file; blank
    lines are skipped, and the first non-blank line may be the header `amount,weight`.
    amount 0-1,000,000 (a box may hold nothing), weight 1-1,000,000,000, at most 1000 rows.
    Raises BadRequest with `details.line` at the first bad line."""
    rows: list[tuple[int, int]] = []
    seen_content = False
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            fields = next(csv.reader([line]))
        except csv.Error as exc:
            raise _bad(number, f"not a CSV row ({exc})") from None
        first = not seen_content
        seen_content = True
        if first and [f.strip().lower() for f in fields] == ["amount", "weight"]:
            continue
        if len(fields) != 2:
            raise _bad(number, f"expected 2 fields (amount,weight), got {len(fields)}")
        amount = _int(fields[0], number, "amount", 0, AMOUNT_MAX)
        weight = _int(fields[1], number, "weight", 1, WEIGHT_MAX)
        if len(rows) == MAX_ROWS:
            raise _bad(number, f"more than {MAX_ROWS} rows")
        rows.append((amount, weight))
    if not rows:
        raise _bad(None, "no rows: expected lines of amount,weight")
    return rows


def view(
    table_id: int, rows: Sequence[Sequence[int]], created_at: datetime, created_by: int | None
) -> RewardTableView:
    total = sum(weight for _, weight in rows)
    return RewardTableView(
        id=table_id,
        rows=[RewardRow(a, w, round(w / total, 6)) for a, w in rows],
        total_weight=total,
        created_at=created_at,
        created_by=created_by,
    )


async def current_table(session: AsyncSession, box: str = BOX) -> RewardTableView | None:
    """The `box`'s table in force (its newest upload), or None before its first upload."""
    row = (
        await session.execute(
            text(
                "SELECT id, rows, created_at, created_by FROM reward_tables WHERE box = :box"
                " ORDER BY id DESC LIMIT 1"
            ),
            {"box": box},
        )
    ).first()
    return None if row is None else view(row[0], row[1], row[2], row[3])


async def insert_table(
    session: AsyncSession,
    rows: Sequence[tuple[int, int]],
    actor_id: int | None,
    box: str = BOX,
) -> RewardTableView:
    """Store a new version of `box`'s table, which is in force once the caller commits."""
    row = (
        await session.execute(
            text(
                "INSERT INTO reward_tables (rows, total_weight, created_by, box)"
                " VALUES (CAST(:rows AS jsonb), :total, :actor, :box) RETURNING id, created_at"
            ),
            {
                "box": box,
                "rows": msgspec.json.encode([list(r) for r in rows]).decode(),
                "total": sum(w for _, w in rows),
                "actor": actor_id,
            },
        )
    ).one()
    return view(row[0], rows, row[1], actor_id)


def draw(table: RewardTableView) -> int:
    """One amount, with probability weight / total, from the OS's secure random source
    (an integer draw: no floating-point bias)."""
    ticket = secrets.randbelow(table.total_weight)
    for row in table.rows:
        if ticket < row.weight:
            return row.amount
        ticket -= row.weight
    raise AssertionError("unreachable: weights sum to total_weight")


async def lock_user(session: AsyncSession, user_id: int) -> None:
    """Lock the user's row (provisioning it first if needed): every balance writer of the
    api takes this lock, so one user's opens and claims run one at a time."""
    lock = text("SELECT 1 FROM users WHERE id = :u FOR UPDATE")
    if (await session.execute(lock, {"u": user_id})).first() is None:
        await provision_user(session, user_id)  # type: ignore[arg-type]
        await session.execute(lock, {"u": user_id})


async def pay(
    session: AsyncSession, user_id: int, kind: str, amount: int, reward_id: str
) -> tuple[int, int, int]:
    """One ledger row (`kind`, unique `reward_id`) and the balance change, in the caller's
    transaction under `lock_user`: (transaction id, balance, balance_version)."""
    tx_id = (
        await session.execute(
            text(
                "INSERT INTO coin_transactions (user_id, kind, amount, reward_id)"
                " VALUES (:u, :k, :a, :r) RETURNING id"
            ),
            {"u": user_id, "k": kind, "a": amount, "r": reward_id},
        )
    ).scalar_one()
    balance, version = (
        await session.execute(
            text(
                "UPDATE users SET balance = balance + :a, balance_version = balance_version + 1,"
                " updated_at = now() WHERE id = :u RETURNING balance, balance_version"
            ),
            {"u": user_id, "a": amount},
        )
    ).one()
    return int(tx_id), int(balance), int(version)
