"""Who a provider's identity is here, decided in one transaction (the caller's).

- Found by (provider, subject): that account (blocked: refused).
- A link (the person is signed in and asked for it): the identity joins that account,
  unless it belongs to another one already.
- Unknown, and its email is verified and belongs to an account: refused with
  `account_exists`. Taking the account over because an email matches would hand it to
  whoever controls that address at any provider; the owner proves the account by signing
  in, then links.
- Unknown otherwise: a new account (its email set only when verified and free), with the
  identity, in the same transaction: no account without its way in, none half-made.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.social.errors import AccountExists
from api.social.idtoken import Claims
from core.errors import Conflict, Forbidden, NotFound


class Raced(Exception):
    """Another sign-in of the same identity created it meanwhile: run the lookup again."""


async def _user(session: AsyncSession, user_id: int) -> Any:
    row = (
        await session.execute(
            text("SELECT id, roles, blocked_at FROM users WHERE id = :u"), {"u": user_id}
        )
    ).first()
    if row is None:
        raise NotFound("no such user")
    if row.blocked_at is not None:
        raise Forbidden("this user is blocked")
    return row


async def _owner(session: AsyncSession, provider: str, subject: str) -> int | None:
    found = (
        await session.execute(
            text("SELECT user_id FROM user_identities WHERE provider = :p AND subject = :s"),
            {"p": provider, "s": subject},
        )
    ).scalar()
    return None if found is None else int(found)


async def _add_identity(session: AsyncSession, user_id: int, provider: str, claims: Claims) -> bool:
    added = await session.execute(
        text(
            "INSERT INTO user_identities (user_id, provider, subject, email, email_verified)"
            " VALUES (:u, :p, :s, :e, :v) ON CONFLICT (provider, subject) DO NOTHING RETURNING id"
        ),
        {
            "u": user_id,
            "p": provider,
            "s": claims.subject,
            "e": claims.email,
            "v": claims.email_verified,
        },
    )
    return added.first() is not None


async def resolve(
    session: AsyncSession, provider: str, claims: Claims, link_user_id: int | None
) -> tuple[int, list[str], bool]:
    """(user id, roles, created) of the person who signed in; raises Raced when the
    transaction must be retried."""
    owner = await _owner(session, provider, claims.subject)
    if link_user_id is not None:
        if owner is not None and owner != link_user_id:
            raise Conflict(f"this {provider} account is already linked to another account")
        row = await _user(session, link_user_id)
        if owner is None and not await _add_identity(session, link_user_id, provider, claims):
            raise Raced()
        return row.id, list(row.roles), False
    if owner is not None:
        row = await _user(session, owner)
        return row.id, list(row.roles), False
    email = claims.email.strip().lower() if claims.email else None
    if email is not None and claims.email_verified:
        taken = (
            await session.execute(text("SELECT id FROM users WHERE email = :e"), {"e": email})
        ).scalar()
        if taken is not None:
            # Made a moment ago by this same person's sign-in in another browser? (Each
            # statement sees what committed before it: look for the identity again.)
            owner = await _owner(session, provider, claims.subject)
            if owner is not None:
                row = await _user(session, owner)
                return row.id, list(row.roles), False
            raise AccountExists(
                f"an account with this email exists already: sign in to it, then link"
                f" {provider} from your account",
                details={"provider": provider},
            )
    created = (
        await session.execute(
            text(
                "INSERT INTO users (email, roles) VALUES (:e, ARRAY['viewer'])"
                " ON CONFLICT (email) DO NOTHING RETURNING id, roles"
            ),
            {"e": email if claims.email_verified else None},
        )
    ).first()
    if created is None:
        # The email was taken a moment ago: by this same person signing in elsewhere (the
        # retry finds their identity) or by a registration (the retry says account_exists).
        raise Raced()
    if not await _add_identity(session, created.id, provider, claims):
        raise Raced()
    return created.id, list(created.roles), True


async def identities(session: AsyncSession, user_id: int) -> list[Any]:
    """The user's identities, oldest first (provider, email, email_verified, created_at)."""
    query = text(
        "SELECT provider, email, email_verified, created_at FROM user_identities"
        " WHERE user_id = :u ORDER BY created_at, id"
    )
    return list((await session.execute(query, {"u": user_id})).all())


async def unlink(session: AsyncSession, user_id: int, provider: str) -> None:
    """Remove the user's identity at `provider`, unless it is their last way in (no
    password and no other identity). The user row is locked first, so two concurrent
    unlinks of a user's last two identities cannot both pass the check."""
    user = (
        await session.execute(
            text("SELECT password_hash FROM users WHERE id = :u FOR UPDATE"), {"u": user_id}
        )
    ).first()
    if user is None:
        raise NotFound(f"no {provider} sign-in on this account")
    count = (
        await session.execute(
            text("SELECT count(*) FROM user_identities WHERE user_id = :u"), {"u": user_id}
        )
    ).scalar_one()
    mine = (
        (
            await session.execute(
                text("SELECT id FROM user_identities WHERE user_id = :u AND provider = :p"),
                {"u": user_id, "p": provider},
            )
        )
        .scalars()
        .all()
    )
    if not mine:
        raise NotFound(f"no {provider} sign-in on this account")
    if user.password_hash is None and count <= len(mine):
        raise Conflict(
            "this is the last way to sign in to this account: set a password or link"
            " another provider first",
            details={"provider": provider},
        )
    await session.execute(
        text("DELETE FROM user_identities WHERE id = ANY(:ids)"), {"ids": list(mine)}
    )
