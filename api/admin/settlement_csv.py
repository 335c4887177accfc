"""A settlement as a CSV file for the books (pure: no I/O).

One row per advertiser line, UTF-8 with a byte-order mark (so spreadsheet programs set to
Korean read it as UTF-8, not CP949), CRLF line ends (RFC 4180). Amounts are exact: integer
micros and the same in KRW as a decimal with six places, never a float. A text cell that a
spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return) is
prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the routes module imports this one
    from api.admin.settlements import SettlementView

COLUMNS = (
    "settlement_id",
    "period_start",
    "period_end",
    "status",
    "advertiser_id",
    "advertiser_email",
    "impressions",
    "clicks",
    "amount_micros",
    "amount_krw",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def krw(micros: int) -> str:
    """Micros as exact KRW: 1500000 -> '1.500000'."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA) else text


def settlement_csv(view: SettlementView, emails: Mapping[int, str | None]) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for line in view.lines or ():
        writer.writerow(
            (
                view.id,
                view.period_start.isoformat(),
                view.period_end.isoformat(),
                view.status,
                line.advertiser_id,
                cell(emails.get(line.advertiser_id) or ""),
                line.impressions,
                line.clicks,
                line.amount_micros,
                krw(line.amount_micros),
            )
        )
    return out.getvalue()
