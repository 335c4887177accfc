"""`python -m api create-admin --email EMAIL`: create the first admin, or give an existing
account the admin role and a new password (an operator locked out of the console uses the
same command). The password comes from `ADMIN_PASSWORD` when set (containers, scripts),
else from a prompt, asked twice and never echoed. Audited as `admin.create` with no actor.

In the container: `docker compose run --rm api create-admin --email you@example.com`;
in the dev run: `source .run/env && .venv/bin/python -m api create-admin --email ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence

from sqlalchemy import text

from api import passwords
from core import audit
from core.db import make_engine, make_sessionmaker
from core.settings import load_or_exit

MIN_PASSWORD = 8


def _password() -> str:
    given = os.environ.get("ADMIN_PASSWORD")
    if given is not None:
        return given
    if not sys.stdin.isatty():
        sys.exit("create-admin: set ADMIN_PASSWORD, or run it in a terminal to be asked")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        sys.exit("create-admin: the passwords differ")
    return first


_UPSERT = text(
    "INSERT INTO users (email, password_hash, roles) VALUES (:email, :hash, ARRAY['admin'])"
    " ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash,"
    " roles = CASE WHEN 'admin' = ANY(users.roles) THEN users.roles"
    "         ELSE array_append(users.roles, 'admin') END,"
    " updated_at = now()"
    " RETURNING id, (xmax = 0) AS created"
)


async def create(email: str, password: str) -> tuple[int, bool]:
    """(user id, created) of the admin account with this email and password."""
    settings = load_or_exit()
    engine = make_engine(settings)
    try:
        hashed = await passwords.hash_password(password)
        async with make_sessionmaker(engine).begin() as session:
            row = (await session.execute(_UPSERT, {"email": email, "hash": hashed})).one()
            audit.record(session, None, "admin.create", f"user:{row.id}", after={"email": email})
        return int(row.id), bool(row.created)
    finally:
        await engine.dispose()


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m api create-admin")
    parser.add_argument("--email", required=True)
    args = parser.parse_args(argv)
    email = args.email.strip().lower()
    if "@" not in email or len(email) > 254:
        sys.exit("create-admin: --email must be an email address")
    password = _password()
    if not MIN_PASSWORD <= len(password) <= 256:
        sys.exit(f"create-admin: the password needs {MIN_PASSWORD} to 256 characters")
    user_id, created = asyncio.run(create(email, password))
    print(f"admin {email} (user {user_id}) {'created' if created else 'updated'}")
