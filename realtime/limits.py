"""Per-connection bounds, pure (the caller passes the clock): message rate and malformed
frames. Small objects with slots: one of each lives on every connection."""

from __future__ import annotations


class RateLimiter:
    """Fixed one-second windows. Over `per_second` in a window, messages are refused
    (`rate_limited`); `should_close` once a window exceeds 3x the limit or three windows in a
    row exceed it (the rate "stayed above the limit": close 4029)."""

    __slots__ = ("count", "over_streak", "per_second", "window")

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

    __slots__ = ("limit", "times", "window_s")

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


class AddressGate:
    """Per source address: at most `max_open` open connections and `per_minute` new ones in a
    fixed one-minute window (per process). Pure bookkeeping; the caller passes the clock."""

    __slots__ = ("connects", "max_open", "open", "per_minute", "window")

    def __init__(self, max_open: int, per_minute: int) -> None:
        self.max_open = max_open
        self.per_minute = per_minute
        self.open: dict[str, int] = {}
        self.window = -1
        self.connects: dict[str, int] = {}

    def admit(self, ip: str, now_s: float) -> bool:
        """Count a new connection from `ip`; False when it must be refused (nothing counted)."""
        window = int(now_s // 60)
        if window != self.window:
            self.window = window
            self.connects.clear()
        if self.open.get(ip, 0) >= self.max_open or self.connects.get(ip, 0) >= self.per_minute:
            return False
        self.connects[ip] = self.connects.get(ip, 0) + 1
        self.open[ip] = self.open.get(ip, 0) + 1
        return True

    def release(self, ip: str) -> None:
        left = self.open.get(ip, 0) - 1
        if left > 0:
            self.open[ip] = left
        else:
            self.open.pop(ip, None)
