"""The help center's language choice, without I/O (api/help_lang.py)."""

from __future__ import annotations

import pytest

from api import help_lang


@pytest.mark.parametrize(
    "header,expected",
    [
        (None, None),
        ("", None),
        ("ko-KR,ko;q=0.9,en-US;q=0.8", "ko"),
        ("en-US,en;q=0.9,ko;q=0.8", "en"),
        ("fr-FR, en;q=0.5", "en"),
        ("ja, zh", None),
        ("en;q=0.3, ko;q=0.7", "ko"),
        ("ko;q=0, en", "en"),
        ("en;q=abc, ko;q=0.1", "ko"),
        ("ko;q=2", None),
        ("*", None),
        ("en," * 600, None),  # absurdly long: ignored
    ],
)
def test_accept_language_picks_the_preferred_supported_language(header, expected):
    """The supported language with the highest q wins; unknown, q=0 and bad q do not count."""
    assert help_lang.from_accept_language(header) == expected


def test_query_beats_header_and_korean_is_the_default():
    """`?lang=` overrides the header; with neither, Korean."""
    assert help_lang.choose("en", "ko-KR") == "en"
    assert help_lang.choose(None, "en-GB") == "en"
    assert help_lang.choose(None, None) == "ko"
    assert help_lang.choose(None, "de") == "ko"


def test_missing_english_falls_back_to_korean():
    """A text with no English version is served in Korean, and says so."""
    assert help_lang.pick("en", "코인", None) == ("코인", "ko")
    assert help_lang.pick("en", "코인", "coins") == ("coins", "en")
    assert help_lang.pick("ko", "코인", "coins") == ("코인", "ko")
