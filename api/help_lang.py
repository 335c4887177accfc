"""Which language a help page is served in: pure rules, no I/O.

The help center has Korean text always and English text where an admin wrote it. The
caller picks with `?lang=ko|en`; without it, the first supported language of the
`Accept-Language` header wins (by its q-values); without either, Korean (the audience of the
service). A text missing in the chosen language falls back to Korean, per field, and the
answer says which language each piece was served in.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["ko", "en"]
DEFAULT: Lang = "ko"
SUPPORTED: tuple[Lang, ...] = ("ko", "en")
MAX_HEADER = 1000  # an Accept-Language longer than this is ignored (no one sends such)


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def from_accept_language(header: str | None) -> Lang | None:
    """The supported language the header prefers most (`ko-KR` counts as `ko`), or None.
    Ties keep the header's order; `q=0` means "not this one"."""
    if not header or len(header) > MAX_HEADER:
        return None
    best: tuple[float, Lang] | None = None
    for part in header.split(","):
        tag, *params = part.split(";")
        primary = tag.strip().lower().split("-")[0]
        q = _quality(params)
        if primary not in SUPPORTED or q <= 0.0:
            continue
        lang: Lang = "ko" if primary == "ko" else "en"
        if best is None or q > best[0]:
            best = (q, lang)
    return best[1] if best is not None else None


def choose(query: Lang | None, accept_language: str | None) -> Lang:
    """The language asked for: the query, else the header, else Korean."""
    if query is not None:
        return query
    return from_accept_language(accept_language) or DEFAULT


def pick(lang: Lang, korean: str, english: str | None) -> tuple[str, Lang]:
    """The text to serve in `lang`, and the language it is really in (Korean stands in for
    a missing English text)."""
    if lang == "en" and english:
        return english, "en"
    return korean, "ko"
