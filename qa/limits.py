"""A sliding-window limit per key (a client address, a chat), with bounded memory.

The API limits questions per client address (QA_RATE_LIMIT) and the Telegram bot per
chat; both count here, and `qa serve`'s workers together in ``SharedWindow``. Keys
quiet for a whole window are forgotten, so a flood of distinct keys cannot grow memory
without bound.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Protocol

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


class Window(Protocol):
    """What the API's rate limit needs of a window: one process's, or shared."""

    limit: int
    window: float

    def allow(self, key: str) -> bool: ...

    def retry_after(self, key: str) -> float: ...


class SharedWindow:
    """``SlidingWindow``'s limit counted across processes (`qa serve`'s workers), in a
    SQLite file beside them: a client's kept-alive connections may land on any worker.

    Each question is one short write transaction (~0.1 ms); the clock is the monotonic
    one, which every process of a machine shares.
    """

    def __init__(
        self, path: Path, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()  # one connection, used from the loop and threads
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=OFF")  # a crash loses a minute of counts
            self._db.execute("CREATE TABLE IF NOT EXISTS events (key TEXT NOT NULL, at REAL)")
            self._db.execute("CREATE INDEX IF NOT EXISTS events_key ON events (key, at)")
        self._calls = 0

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._calls += 1
                if self._calls % FORGET_ABOVE == 0:  # every key's stale events
                    self._db.execute("DELETE FROM events WHERE at <= ?", (now - self.window,))
                else:
                    self._db.execute(
                        "DELETE FROM events WHERE key = ? AND at <= ?", (key, now - self.window)
                    )
                (held,) = self._db.execute(
                    "SELECT count(*) FROM events WHERE key = ?", (key,)
                ).fetchone()
                if held >= self.limit:
                    return False
                self._db.execute("INSERT INTO events VALUES (?, ?)", (key, now))
                return True
            finally:
                self._db.execute("COMMIT")

    def retry_after(self, key: str) -> float:
        with self._lock:
            first, held = self._db.execute(
                "SELECT min(at), count(*) FROM events WHERE key = ? AND at > ?",
                (key, self._clock() - self.window),
            ).fetchone()
        if held < self.limit:
            return 0.0
        return max(0.0, float(first) + self.window - self._clock())
