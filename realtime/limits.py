"""Per-connection bounds, pure (the caller passes the clock): message rate and malformed
frames. Small objects with slots: one of each lives on every connection."""

from __future__ import annotations


class RateLimiter:
    """Fixed one-second windows. Over `per_second` in a window, messages are refused
    (`rate_limited`); `should_close` once a window exceeds 3x the limit or three windows in a
    row exceed it (the rate "stayed above the limit": close 4029)."""

    __slots__ = ("per_second", "window", "count", "over_streak")

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self.window = -1
        self.count = 0
        self.over_streak = 0

    def hit(self, now_s: float) -> bool:
        """Count one message; True when it is within the limit."""
        window = int(now_s)
        if window != self.window:
            over = self.count > self.per_second
            consecutive = window == self.window + 1
            self.over_streak = self.over_streak + 1 if over and consecutive else 0
            self.window = window
            self.count = 0
        self.count += 1
        return self.count <= self.per_second

    @property
    def should_close(self) -> bool:
        over = self.count > self.per_second
        return self.count > 3 * self.per_second or (over and self.over_streak >= 2)


class MalformedCounter:
    """More than `limit` malformed frames within `window_s` seconds: close 4500."""

    __slots__ = ("limit", "window_s", "times")

    def __init__(self, limit: int = 10, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self.times: list[float] = []

    def hit(self, now_s: float) -> bool:
        """Record one malformed frame; True when the connection must be closed."""
        cutoff = now_s - self.window_s
        self.times = [t for t in self.times if t > cutoff]
        self.times.append(now_s)
        return len(self.times) > self.limit
