"""A sliding-window limit per key (a client address, a chat), with bounded memory.

The API limits questions per client address (QA_RATE_LIMIT) and the Telegram bot per
chat; both count here. Keys quiet for a whole window are forgotten, so a flood of
distinct keys cannot grow memory without bound.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable

FORGET_ABOVE = 4 * 1024  # keys tracked before quiet ones are dropped


class SlidingWindow:
    """At most ``limit`` events per key within any ``window`` seconds."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[Hashable, deque[float]] = {}

    def allow(self, key: Hashable) -> bool:
        """Count an event for ``key`` if there is room; False when there is none."""
        now = self._clock()
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        if len(self._events) > FORGET_ABOVE:
            self._forget(now)
        return True

    def retry_after(self, key: Hashable) -> float:
        """Seconds until ``key`` has room again (0 when it has)."""
        events = self._events.get(key)
        if not events or len(events) < self.limit:
            return 0.0
        return max(0.0, events[0] + self.window - self._clock())

    def __len__(self) -> int:
        return len(self._events)

    def _forget(self, now: float) -> None:
        stale = [k for k, t in self._events.items() if not t or t[-1] <= now - self.window]
        for key in stale:
            del self._events[key]
        self.forgotten(stale)

    def forgotten(self, keys: list[Hashable]) -> None:
        """Called with the keys just dropped; subclasses forget their own state of them."""
