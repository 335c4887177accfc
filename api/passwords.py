"""Password hashing with scrypt (memory-hard, in the standard library: no native dependency
to build or pin). Stored as `scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`, so the cost can be
raised later and old hashes still verify (`needs_rehash`).

n=2^14, r=8, p=1 takes 16 MiB and about 50 ms per hash. Hashing runs on a small dedicated
thread pool: the event loop never waits on it, and a login storm cannot take more than
HASH_THREADS x 16 MiB of memory (the others queue).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor

N, R, P = 2**14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
HASH_THREADS = 4
MAXMEM = 64 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES, maxmem=MAXMEM
    )


def hash_password_sync(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


def verify_password_sync(password: str, stored: str | None) -> bool:
    """True when `password` matches `stored`. With no stored hash (an unknown email, or a
    user without a password) the work is done all the same against a dummy, so that the
    answer's timing does not tell whether the account exists."""
    try:
        scheme, n, r, p, salt, expected = (stored or "").split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        params = int(n), int(r), int(p)
        salt_raw, expected_raw = _unb64(salt), _unb64(expected)
    except ValueError:
        _derive(password, b"0" * SALT_BYTES, N, R, P)
        return False
    return hmac.compare_digest(_derive(password, salt_raw, *params), expected_raw)


def needs_rehash(stored: str) -> bool:
    return not stored.startswith(f"scrypt${N}${R}${P}$")


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="kdf")


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool(), hash_password_sync, password)


async def verify_password(password: str, stored: str | None) -> bool:
    return await asyncio.get_running_loop().run_in_executor(
        _pool(), verify_password_sync, password, stored
    )
