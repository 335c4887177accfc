"""core.tokens on its own: the token matrix (devkit/tokens.py) and a property run that
any string is either an identity or a TokenError, never another exception."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.settings import load_settings
from core.tokens import TokenError, TokenExpired, issue_access, verify_access
from devkit.tokens import b64, claims_for, hs_sign, token_case_names, token_cases

SETTINGS = load_settings(
    {
        "DATABASE_URL": "postgresql+asyncpg://u@127.0.0.1:1/x",
        "REDIS_URL": "redis://127.0.0.1:1",
        "JWT_SECRET": "unit-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
    }
)
CASES = token_cases(SETTINGS, 42)


@pytest.mark.parametrize("name", token_case_names())
def test_token_matrix(name: str) -> None:
    """Each case of the matrix gets the documented answer from verify_access."""
    case = CASES[name]
    if case.expect == "accept":
        assert verify_access(SETTINGS, case.token or "").user_id == 42
    elif case.expect == "expired":
        with pytest.raises(TokenExpired):
            verify_access(SETTINGS, case.token or "")
    else:
        with pytest.raises(TokenError) as info:
            verify_access(SETTINGS, case.token or "")
        assert not isinstance(info.value, TokenExpired), case.why


def test_small_clock_skew_on_iat_is_allowed() -> None:
    """A token minted by a node whose clock runs a few seconds ahead is still accepted."""
    now = int(time.time())
    assert verify_access(SETTINGS, issue_access(SETTINGS, 7, now=now + 5)).user_id == 7


def test_audience_list_containing_ours_is_accepted() -> None:
    """`aud` may be a list (RFC 7519 4.1.3): ours among others is accepted."""
    claims = claims_for(SETTINGS, 9, aud=["other", SETTINGS.jwt_audience])
    assert (
        verify_access(SETTINGS, hs_sign({"alg": "HS256"}, claims, SETTINGS.jwt_secret)).user_id == 9
    )


_segment = st.one_of(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=80
    ),
    st.builds(
        b64,
        st.dictionaries(
            st.sampled_from(
                ["alg", "typ", "kid", "sub", "exp", "iat", "aud", "iss", "crit", "jwk"]
            ),
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(),
                st.floats(allow_nan=False),
                st.text(max_size=20),
                st.lists(st.integers(), max_size=3),
            ),
            max_size=6,
        ),
    ),
)


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.one_of(
        st.text(max_size=300),
        st.builds(".".join, st.lists(_segment, min_size=1, max_size=5)),
    )
)
def test_any_string_is_an_identity_or_a_token_error(token: str) -> None:
    """Nothing a client can make up is accepted, and nothing makes verify_access raise
    anything but TokenError (without the secret no string is a valid token)."""
    with pytest.raises(TokenError):
        verify_access(SETTINGS, token)
