"""The console's chart series: raw samples in, per-second and per-minute figures out.

The worker records one `Sample` every `SAMPLE_EVERY_S` into a Redis list (newest first,
trimmed to `KEEP` samples: one hour). A sample holds what can be read at one instant:
counters that only grow (heartbeats handled by every hub, `stats:heartbeats`) and levels
(live sessions, outbox entries and the age of the oldest one, rewards and ad spend over the
last minute from the ledgers). `series` turns consecutive samples into points; a counter that
went down (Redis restarted, the key lost) gives no rate for that step rather than a negative
one, and samples more than GAP_MS apart give none either. Pure: no I/O here (workers/stats_sampler.py records, api/admin/stats.py reads).
"""

from __future__ import annotations

import msgspec

SAMPLE_EVERY_S = 10
KEEP = 3600 // SAMPLE_EVERY_S  # one hour of samples


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    t_ms: int
    sessions: int  # live watch sessions (all partitions)
    heartbeats: int  # stats:heartbeats: heartbeats handled by every hub so far
    rewards_1m: int  # watch rewards in the ledger granted over the last minute
    coins_1m: int  # their coins
    outbox_entries: int  # entries waiting in the outbox streams
    outbox_lag_ms: int  # age of the oldest waiting entry (0: none waits)
    spend_1m_micros: int  # advertiser spend (impressions, clicks) over the last minute
    nodes: int  # hub nodes up


class Point(msgspec.Struct, frozen=True, kw_only=True):
    t_ms: int
    viewers: int
    heartbeats_per_s: float | None  # None: no earlier sample, or the counter was reset
    rewards_per_min: int
    coins_per_min: int
    outbox_entries: int
    outbox_lag_ms: int
    ad_spend_micros_per_min: int
    nodes: int


encode = msgspec.json.encode
_decode = msgspec.json.Decoder(Sample)


def decode(raw: bytes | str) -> Sample | None:
    """One stored sample, or None for an entry that does not parse (a newer shape is read
    by its known fields; garbage is skipped, not fatal to the chart)."""
    try:
        return _decode.decode(raw)
    except msgspec.DecodeError:
        return None


GAP_MS = 3 * SAMPLE_EVERY_S * 1000  # samples further apart (no worker ran): no rate


def rate(before: Sample | None, after: Sample) -> float | None:
    """Heartbeats per second between two samples; None across a gap (an average over the
    time no worker sampled would draw a flat line that never happened)."""
    if before is None or not 0 < after.t_ms - before.t_ms <= GAP_MS:
        return None
    if after.heartbeats < before.heartbeats:
        return None
    return round((after.heartbeats - before.heartbeats) * 1000 / (after.t_ms - before.t_ms), 2)


def series(samples: list[Sample], since_ms: int) -> list[Point]:
    """Points oldest first from `samples` (any order), those at or after `since_ms`; the
    sample just before `since_ms` still gives the first point its rate."""
    ordered = sorted(samples, key=lambda s: s.t_ms)
    points: list[Point] = []
    before: Sample | None = None
    for s in ordered:
        if s.t_ms >= since_ms:
            points.append(
                Point(
                    t_ms=s.t_ms,
                    viewers=s.sessions,
                    heartbeats_per_s=rate(before, s),
                    rewards_per_min=s.rewards_1m,
                    coins_per_min=s.coins_1m,
                    outbox_entries=s.outbox_entries,
                    outbox_lag_ms=s.outbox_lag_ms,
                    ad_spend_micros_per_min=s.spend_1m_micros,
                    nodes=s.nodes,
                )
            )
        before = s
    return points


def slot(now_ms: int) -> int:
    """The 10 s slot of an instant: two workers that sample in one slot record it once."""
    return now_ms // (SAMPLE_EVERY_S * 1000)
