"""Import the replaced service's data from its CSV export (docs/migration.md):

    python -m api import-legacy DIR [--dry-run]

Files, each optional, applied in this order: users.csv, user_identities.csv, contents.csv,
balances.csv, coin_history.csv, faq.csv. Each file is one transaction, and all or nothing:
a file with a refused row is not applied (every refused row is reported with its line
number; fix them and run again). Every row is idempotent: a row already imported is
`unchanged`, so a second run changes nothing. `--dry-run` runs the same statements inside
one transaction (a savepoint per file, so later files see what earlier ones would add) and
rolls it all back: the report is what a real run would do.

Money: a user's balance arrives as ONE ledger entry (kind `opening`, reward id
`legacy:opening:<user id>`, unique like every reward id), added to `users.balance` in the
same statement group that inserts it, so the balance stays the sum of the ledger. The coin
history is kept beside the ledger (`legacy_coin_history`), not in it: it is what made up
that balance, and counting it again would pay it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api import legacy_rows as rows
from api.contents import provider_of
from api.legacy_rows import Refused

R = TypeVar("R")
Outcome = str  # new | changed | unchanged


@dataclass
class FileReport:
    name: str
    present: bool = True
    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "changed": 0, "unchanged": 0})
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    @property
    def applied(self) -> bool:
        return self.present and not self.refused


async def _one(conn: AsyncConnection, sql: str, **params: Any) -> Any:
    return (await conn.execute(text(sql), params)).first()


async def _legacy(conn: AsyncConnection, kind: str, legacy_id: str) -> int | None:
    row = await _one(
        conn,
        "SELECT local_id FROM legacy_ids WHERE kind = :k AND legacy_id = :l",
        k=kind,
        l=legacy_id,
    )
    return None if row is None else int(row[0])


async def _remember(conn: AsyncConnection, kind: str, legacy_id: str, local_id: int) -> None:
    await conn.execute(
        text(
            "INSERT INTO legacy_ids (kind, legacy_id, local_id) VALUES (:k, :l, :id)"
            " ON CONFLICT DO NOTHING"
        ),
        {"k": kind, "l": legacy_id, "id": local_id},
    )


async def _require_user(conn: AsyncConnection, user_id: int) -> None:
    if await _one(conn, "SELECT 1 FROM users WHERE id = :id", id=user_id) is None:
        raise Refused(f"no user {user_id} (import users.csv first)")


async def apply_user(conn: AsyncConnection, r: rows.UserRow) -> Outcome:
    """The replaced service's user id is kept as ours (its tokens name it)."""
    if r.email is not None:
        other = await _one(
            conn, "SELECT id FROM users WHERE email = :e AND id <> :id", e=r.email, id=r.id
        )
        if other is not None:
            raise Refused(f"email {r.email} belongs to user {other[0]}")
    have = await _one(conn, "SELECT email FROM users WHERE id = :id", id=r.id)
    outcome = "unchanged"
    if have is None:
        await conn.execute(
            text(
                "INSERT INTO users (id, email, created_at) VALUES (:id, :e, COALESCE(:at, now()))"
            ),
            {"id": r.id, "e": r.email, "at": r.created_at},
        )
        outcome = "new"
    elif have[0] != r.email:
        if have[0] is not None:
            raise Refused(f"user {r.id} exists with another email ({have[0]})")
        if r.email is not None:
            await conn.execute(
                text("UPDATE users SET email = :e, updated_at = now() WHERE id = :id"),
                {"id": r.id, "e": r.email},
            )
            outcome = "changed"
    await _remember(conn, "user", str(r.id), r.id)
    return outcome


async def apply_identity(conn: AsyncConnection, r: rows.IdentityRow) -> Outcome:
    await _require_user(conn, r.user_id)
    have = await _one(
        conn,
        "SELECT user_id FROM user_identities WHERE provider = :p AND subject = :s",
        p=r.provider,
        s=r.subject,
    )
    if have is not None:
        if int(have[0]) != r.user_id:
            raise Refused(f"{r.provider} identity {r.subject} belongs to user {have[0]}")
        return "unchanged"
    await conn.execute(
        text(
            "INSERT INTO user_identities (user_id, provider, subject, email)"
            " VALUES (:u, :p, :s, :e)"
        ),
        {"u": r.user_id, "p": r.provider, "s": r.subject, "e": r.email},
    )
    return "new"


async def apply_content(conn: AsyncConnection, r: rows.ContentRow) -> Outcome:
    """A content already imported is left as it is here (admins may have edited it)."""
    if await _legacy(conn, "content", r.id) is not None:
        return "unchanged"
    row = await _one(
        conn,
        "INSERT INTO contents (title, source_url, provider, duration_s, tags, status,"
        " published_at, updated_at) VALUES (:t, :u, :p, :d, :tags, :s,"
        " CASE WHEN :s = 'published' THEN COALESCE(:pub, now()) ELSE CAST(:pub AS timestamptz) END,"
        " clock_timestamp()) RETURNING id",
        t=r.title,
        u=r.source_url,
        p=provider_of(r.source_url),
        d=r.duration_s,
        tags=r.tags,
        s=r.status,
        pub=r.published_at,
    )
    await _remember(conn, "content", r.id, int(row[0]))
    return "new"


def opening_id(user_id: int) -> str:
    return f"legacy:opening:{user_id}"


async def apply_balance(conn: AsyncConnection, r: rows.BalanceRow) -> Outcome:
    """One opening ledger entry; the balance grows by what this statement inserted."""
    await _require_user(conn, r.user_id)
    rid = opening_id(r.user_id)
    have = await _one(conn, "SELECT amount FROM coin_transactions WHERE reward_id = :r", r=rid)
    if have is not None:
        if int(have[0]) != r.balance:
            raise Refused(f"user {r.user_id}'s opening balance was imported as {have[0]}")
        return "unchanged"
    if r.balance == 0:
        return "unchanged"  # nothing to open with: no entry
    inserted = await _one(
        conn,
        "INSERT INTO coin_transactions (user_id, kind, amount, reward_id)"
        " VALUES (:u, 'opening', :a, :r) ON CONFLICT (reward_id) DO NOTHING RETURNING amount",
        u=r.user_id,
        a=r.balance,
        r=rid,
    )
    if inserted is None:
        return "unchanged"
    await conn.execute(
        text(
            "UPDATE users SET balance = balance + :a, balance_version = balance_version + 1,"
            " updated_at = now() WHERE id = :u"
        ),
        {"a": r.balance, "u": r.user_id},
    )
    return "new"


async def apply_history(conn: AsyncConnection, r: rows.HistoryRow) -> Outcome:
    await _require_user(conn, r.user_id)
    have = await _one(
        conn, "SELECT user_id, amount FROM legacy_coin_history WHERE legacy_id = :l", l=r.id
    )
    if have is not None:
        if (int(have[0]), int(have[1])) != (r.user_id, r.amount):
            raise Refused(f"history entry {r.id} was imported with other values")
        return "unchanged"
    await conn.execute(
        text(
            "INSERT INTO legacy_coin_history (legacy_id, user_id, kind, amount, description,"
            " created_at) VALUES (:l, :u, :k, :a, :d, :at)"
        ),
        {
            "l": r.id,
            "u": r.user_id,
            "k": r.kind,
            "a": r.amount,
            "d": r.description,
            "at": r.created_at,
        },
    )
    return "new"


async def apply_faq(conn: AsyncConnection, r: rows.FaqRow) -> Outcome:
    """An article already imported is left as it is (admins may have edited it); its
    category is found by slug, or made (published) with the row's titles."""
    if await _legacy(conn, "faq", r.id) is not None:
        return "unchanged"
    category = await _one(conn, "SELECT id FROM help_categories WHERE slug = :s", s=r.category)
    if category is None:
        category = await _one(
            conn,
            "INSERT INTO help_categories (slug, title_ko, title_en, status)"
            " VALUES (:s, :ko, :en, 'published') RETURNING id",
            s=r.category,
            ko=r.category_ko,
            en=r.category_en,
        )
    row = await _one(
        conn,
        "INSERT INTO help_articles (category_id, question_ko, answer_ko, question_en,"
        " answer_en, position, status) VALUES (:c, :qk, :ak, :qe, :ae, :p, :s) RETURNING id",
        c=category[0],
        qk=r.question_ko,
        ak=r.answer_ko,
        qe=r.question_en,
        ae=r.answer_en,
        p=r.position,
        s=r.status,
    )
    await _remember(conn, "faq", r.id, int(row[0]))
    return "new"


@dataclass(frozen=True)
class Kind:
    file: str
    columns: tuple[str, ...]
    parse: Callable[[dict[str, str]], Any]
    apply: Callable[[AsyncConnection, Any], Awaitable[Outcome]]


KINDS = (
    Kind("users.csv", ("id", "email"), rows.user, apply_user),
    Kind("user_identities.csv", ("user_id", "provider", "subject"), rows.identity, apply_identity),
    Kind("contents.csv", ("id", "title", "source_url", "duration_s"), rows.content, apply_content),
    Kind("balances.csv", ("user_id", "balance"), rows.balance, apply_balance),
    Kind(
        "coin_history.csv",
        ("id", "user_id", "kind", "amount", "created_at"),
        rows.history,
        apply_history,
    ),
    Kind(
        "faq.csv",
        ("id", "category", "category_ko", "question_ko", "answer_ko"),
        rows.faq,
        apply_faq,
    ),
)


async def _file(conn: AsyncConnection, kind: Kind, body: str, report: FileReport) -> None:
    """Every row of one file, on `conn` (inside its transaction or savepoint). A row's
    statements run in a savepoint of their own, so a refused row leaves no trace and the
    rest are still checked (their report is what they would do)."""
    try:
        lines = list(rows.read(body, kind.columns))
    except Refused as exc:
        report.refused.append((1, str(exc)))
        return
    for line, raw in lines:
        try:
            record = kind.parse(raw)
            async with conn.begin_nested():
                outcome = await kind.apply(conn, record)
        except Refused as exc:
            report.refused.append((line, str(exc)))
            continue
        except IntegrityError as exc:  # a constraint the checks above did not foresee
            report.refused.append((line, f"refused by the database: {exc.orig}"))
            continue
        report.counts[outcome] += 1


async def import_dir(engine: AsyncEngine, directory: Path, dry_run: bool) -> list[FileReport]:
    reports: list[FileReport] = []
    async with engine.connect() as conn:
        outer = await conn.begin() if dry_run else None
        for kind in KINDS:
            path = directory / kind.file
            report = FileReport(kind.file, present=path.is_file())
            reports.append(report)
            if not report.present:
                continue
            body = path.read_text(encoding="utf-8-sig")
            tx = await (conn.begin_nested() if dry_run else conn.begin())
            await _file(conn, kind, body, report)
            if report.refused:
                await tx.rollback()
            else:
                await tx.commit()
        if outer is not None:
            await outer.rollback()
    return reports


def render(reports: Sequence[FileReport], dry_run: bool) -> str:
    out = []
    for r in reports:
        if not r.present:
            out.append(f"{r.name}: absent, skipped")
            continue
        c = r.counts
        verdict = "applied" if r.applied else "NOT applied (refused rows)"
        if dry_run:
            verdict = "would be applied" if r.applied else "would NOT be applied (refused rows)"
        out.append(
            f"{r.name}: {c['new']} new, {c['changed']} changed, {c['unchanged']} unchanged,"
            f" {len(r.refused)} refused: {verdict}"
        )
        out += [f"{r.name}:{line}: refused: {reason}" for line, reason in r.refused]
    if dry_run:
        out.append("dry run: nothing was written")
    return "\n".join(out)


async def _main(directory: Path, dry_run: bool) -> int:
    from core.db import make_engine
    from core.settings import load_or_exit

    engine = make_engine(load_or_exit(), pool_size=1)
    try:
        reports = await import_dir(engine, directory, dry_run)
    finally:
        await engine.dispose()
    print(render(reports, dry_run))
    return 1 if any(r.refused for r in reports) else 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m api import-legacy",
        description="Import the replaced service's CSV export (docs/migration.md).",
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="report, write nothing")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        parser.error(f"not a directory: {args.directory}")
    return asyncio.run(_main(args.directory, args.dry_run))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
