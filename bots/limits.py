"""A per-chat rate limit, so that one chat flooding the bot cannot starve the others.

Each question costs a model call; a chat that asks more than ``limit`` questions within
``window`` seconds is told once to slow down, and its further questions are skipped
silently until the window has room again (a notice per skipped question would be a flood
of our own).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import Enum


class Verdict(Enum):
    ALLOW = "allow"
    NOTIFY = "notify"  # the first refusal of a flood: say so
    DROP = "drop"  # later refusals: say nothing


class RateLimiter:
    """A sliding window of the times each chat was allowed a question."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._asked: dict[int, deque[float]] = {}
        self._notified: set[int] = set()

    def check(self, chat_id: int) -> Verdict:
        """Count a question from ``chat_id`` if there is room, and say what to do."""
        now = self._clock()
        asked = self._asked.setdefault(chat_id, deque())
        while asked and asked[0] <= now - self.window:
            asked.popleft()
        if len(asked) < self.limit:
            asked.append(now)
            self._notified.discard(chat_id)
            if len(self._asked) > 4 * 1024:
                self._forget(now)
            return Verdict.ALLOW
        if chat_id in self._notified:
            return Verdict.DROP
        self._notified.add(chat_id)
        return Verdict.NOTIFY

    def _forget(self, now: float) -> None:
        """Drop chats that have been quiet for a whole window, so memory stays bounded."""
        stale = [c for c, t in self._asked.items() if not t or t[-1] <= now - self.window]
        for chat_id in stale:
            del self._asked[chat_id]
            self._notified.discard(chat_id)
