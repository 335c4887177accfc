"""The import of the replaced service's CSV export (api/legacy_import.py) into a real
PostgreSQL: what lands, that a re-run changes nothing, the dry run, refused rows with their
line numbers, and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from api.legacy_import import import_dir, render

FILES = {
    "users.csv": (
        "id,email,created_at\n"
        "11,kim@example.com,2024-03-01T10:00:00+09:00\n"
        "12,LEE@example.com,\n"
        "13,,2024-05-01T00:00:00Z\n"
    ),
    "user_identities.csv": (
        "user_id,provider,subject,email\n"
        "11,kakao,k-1001,kim@example.com\n"
        "11,google,g-2002,\n"
        "13,naver,n-3003,\n"
    ),
    "contents.csv": (
        "id,title,source_url,duration_s,tags,status,published_at\n"
        "v1,첫 영상,https://youtu.be/one,120,KPop|dance,published,2024-01-01T00:00:00+09:00\n"
        "v2,Draft,https://example.com/two.mp4,60,,draft,\n"
    ),
    "balances.csv": "user_id,balance\n11,1500\n12,0\n13,70\n",
    "coin_history.csv": (
        "id,user_id,kind,amount,created_at,description\n"
        "h1,11,watch,1000,2024-03-02T10:00:00+09:00,시청 보상\n"
        "h2,11,box,500,2024-03-03T10:00:00+09:00,\n"
        "h3,13,watch,70,2024-05-02T00:00:00Z,\n"
    ),
    "faq.csv": (
        "id,category,category_ko,category_en,position,question_ko,answer_ko,question_en,answer_en,status\n"
        "f1,coins,코인,Coins,1,코인은 언제 적립되나요?,1분마다 적립됩니다.,When do I earn coins?,Every minute.,published\n"
        "f2,coins,코인,Coins,2,출금은 어떻게 하나요?,설정에서 신청합니다.,,,published\n"
    ),
}

TABLES = (
    "users",
    "user_identities",
    "contents",
    "coin_transactions",
    "legacy_coin_history",
    "help_categories",
    "help_articles",
    "legacy_ids",
)


def export(tmp_path: Path, **overrides: str) -> Path:
    for name, body in {**FILES, **overrides}.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    return tmp_path


async def snapshot(engine: Any) -> dict[str, list[Any]]:
    """Every row of the tables the import writes (the whole effect of a run)."""
    out = {}
    async with engine.connect() as conn:
        for t in TABLES:
            rows = await conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))
            out[t] = [tuple(r) for r in rows]
    return out


def counts(reports: Any) -> dict[str, tuple[int, int, int, int]]:
    return {
        r.name: (r.counts["new"], r.counts["changed"], r.counts["unchanged"], len(r.refused))
        for r in reports
    }


async def test_an_export_lands_whole_and_a_second_run_changes_nothing(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Users keep their ids, identities are linked, each balance is one opening ledger entry
    (balance = the ledger's sum), the history sits beside the ledger, contents and FAQ are
    in; the second run reports every row unchanged and writes nothing."""
    folder = export(tmp_path)
    first = await import_dir(engine, folder, dry_run=False)
    assert counts(first) == {
        "users.csv": (3, 0, 0, 0),
        "user_identities.csv": (3, 0, 0, 0),
        "contents.csv": (2, 0, 0, 0),
        "balances.csv": (2, 0, 1, 0),  # a zero balance opens with no entry
        "coin_history.csv": (3, 0, 0, 0),
        "faq.csv": (2, 0, 0, 0),
    }
    async with engine.connect() as conn:
        users = (await conn.execute(text("SELECT id, email, balance FROM users ORDER BY id"))).all()
        ledger = (
            await conn.execute(
                text("SELECT user_id, kind, amount, reward_id FROM coin_transactions ORDER BY id")
            )
        ).all()
        idents = (
            await conn.execute(
                text("SELECT provider, subject, user_id FROM user_identities ORDER BY id")
            )
        ).all()
        contents = (
            await conn.execute(
                text("SELECT title, tags, status, provider FROM contents ORDER BY id")
            )
        ).all()
        faq = (
            await conn.execute(
                text(
                    "SELECT c.slug, a.question_ko, a.question_en FROM help_articles a"
                    " JOIN help_categories c ON c.id = a.category_id ORDER BY a.position"
                )
            )
        ).all()
    assert [tuple(u) for u in users] == [
        (11, "kim@example.com", 1500),
        (12, "lee@example.com", 0),
        (13, None, 70),
    ]
    assert [tuple(r) for r in ledger] == [
        (11, "opening", 1500, "legacy:opening:11"),
        (13, "opening", 70, "legacy:opening:13"),
    ]
    assert [tuple(i) for i in idents] == [
        ("kakao", "k-1001", 11),
        ("google", "g-2002", 11),
        ("naver", "n-3003", 13),
    ]
    assert [tuple(c) for c in contents] == [
        ("첫 영상", ["kpop", "dance"], "published", "youtube"),
        ("Draft", [], "draft", "url"),
    ]
    assert [tuple(f) for f in faq] == [
        ("coins", "코인은 언제 적립되나요?", "When do I earn coins?"),
        ("coins", "출금은 어떻게 하나요?", None),
    ]
    before = await snapshot(engine)
    second = await import_dir(engine, folder, dry_run=False)
    assert all(
        new == changed == refused == 0 for new, changed, _, refused in counts(second).values()
    )
    assert await snapshot(engine) == before


async def test_a_dry_run_reports_what_would_change_and_writes_nothing(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Later files see what earlier ones would add (balances of users not yet imported are
    not refused), and afterwards every table is as it was."""
    before = await snapshot(engine)
    reports = await import_dir(engine, export(tmp_path), dry_run=True)
    assert counts(reports)["balances.csv"] == (2, 0, 1, 0)
    assert counts(reports)["users.csv"] == (3, 0, 0, 0)
    assert await snapshot(engine) == before
    assert render(reports, dry_run=True).splitlines()[-1] == "dry run: nothing was written"


async def test_refused_rows_are_reported_by_line_and_their_file_is_not_applied(
    engine, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """A bad row keeps its whole file out (nothing half-applied); files that depend on it
    refuse their rows too; the other files are applied."""
    folder = export(
        tmp_path,
        **{
            "users.csv": "id,email\n11,kim@example.com\n\nx2,lee@example.com\n14,not-an-email\n",
        },
    )
    reports = {r.name: r for r in await import_dir(engine, folder, dry_run=False)}
    assert reports["users.csv"].refused == [
        (4, "id must be a whole number, got 'x2'"),
        (5, "email is not an address: 'not-an-email'"),
    ]
    assert reports["balances.csv"].refused[0] == (2, "no user 11 (import users.csv first)")
    assert reports["contents.csv"].applied and reports["faq.csv"].applied
    snap = await snapshot(engine)
    assert snap["users"] == [] and snap["coin_transactions"] == []
    assert len(snap["contents"]) == 2
    lines = render(list(reports.values()), dry_run=False).splitlines()
    assert "users.csv:4: refused: id must be a whole number, got 'x2'" in lines


async def test_a_changed_balance_on_a_re_run_is_refused_not_paid_again(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await import_dir(engine, export(tmp_path), dry_run=False)
    changed = export(tmp_path, **{"balances.csv": "user_id,balance\n11,9999\n"})
    [report] = [
        r for r in await import_dir(engine, changed, dry_run=False) if r.name == "balances.csv"
    ]
    assert report.refused == [(2, "user 11's opening balance was imported as 1500")]
    async with engine.connect() as conn:
        balance = (await conn.execute(text("SELECT balance FROM users WHERE id = 11"))).scalar()
        paid = (
            await conn.execute(text("SELECT sum(amount) FROM coin_transactions WHERE user_id = 11"))
        ).scalar()
    assert balance == paid == 1500


async def test_the_command_line_dry_run(env, tmp_path, engine) -> None:  # type: ignore[no-untyped-def]
    """`python -m api import-legacy DIR --dry-run` prints the report and exits 0; with a
    refused row it exits 1 and names the line."""
    folder = export(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "api", "import-legacy", str(folder), "--dry-run"],
        env={**os.environ, **env},
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "users.csv: 3 new, 0 changed, 0 unchanged, 0 refused: would be applied" in run.stdout
    (folder / "users.csv").write_text("id,email\n11,bad\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "api", "import-legacy", str(folder), "--dry-run"],
        env={**os.environ, **env},
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "users.csv:2: refused: email is not an address: 'bad'" in run.stdout


async def test_rows_that_would_take_another_users_email_or_identity_are_refused(
    engine: Any, tmp_path: Path
) -> None:
    """An email held by another account, and a social identity linked to another user, are
    refused by line; nothing of those files is written."""
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO users (id, email) VALUES (5, 'kim@example.com')"))
    folder = export(tmp_path)
    users = {r.name: r for r in await import_dir(engine, folder, dry_run=False)}["users.csv"]
    assert users.refused == [(2, "email kim@example.com belongs to user 5")]
    fixed = export(
        tmp_path,
        **{
            "users.csv": "id,email\n11,\n12,\n",
            "user_identities.csv": "user_id,provider,subject\n11,kakao,k-1\n12,kakao,k-1\n",
        },
    )
    reports = {r.name: r for r in await import_dir(engine, fixed, dry_run=False)}
    assert reports["users.csv"].applied
    assert reports["user_identities.csv"].refused == [(3, "kakao identity k-1 belongs to user 11")]
    snap = await snapshot(engine)
    assert snap["user_identities"] == []
