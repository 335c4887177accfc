"""ISO 8601 durations as YouTube writes them (`PT1H2M3S`, `P1DT2H`, `P0D` for a live that
has not ended), to exact whole seconds. Fractions and years/months (whose length depends
on the calendar) are refused: YouTube does not send them, and guessing would be inexact."""

from __future__ import annotations

import re

_DURATION = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
_SECONDS = {"w": 7 * 86_400, "d": 86_400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int:
    """Seconds in `text`; ValueError when it is not such a duration."""
    match = _DURATION.match(text.strip())
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise ValueError(f"not an ISO 8601 duration of whole seconds: {text!r}")
    return sum(int(v) * _SECONDS[k] for k, v in match.groupdict().items() if v is not None)
