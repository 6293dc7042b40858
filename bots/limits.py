"""A per-chat rate limit, so that one chat flooding the bot cannot starve the others.

Each question costs a model call; a chat that asks more than ``limit`` questions within
``window`` seconds is told once to slow down, and its further questions are skipped
silently until the window has room again (a notice per skipped question would be a flood
of our own).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from enum import Enum

from qa.limits import SlidingWindow


class Verdict(Enum):
    ALLOW = "allow"
    NOTIFY = "notify"  # the first refusal of a flood: say so
    DROP = "drop"  # later refusals: say nothing


class RateLimiter(SlidingWindow):
    """The window of each chat, and whether it was told to slow down already."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(limit, window, clock)
        self._notified: set[Hashable] = set()

    def check(self, chat_id: int) -> Verdict:
        """Count a question from ``chat_id`` if there is room, and say what to do."""
        if self.allow(chat_id):
            self._notified.discard(chat_id)
            return Verdict.ALLOW
        if chat_id in self._notified:
            return Verdict.DROP
        self._notified.add(chat_id)
        return Verdict.NOTIFY

    def forgotten(self, keys: list[Hashable]) -> None:
        self._notified.difference_update(keys)
