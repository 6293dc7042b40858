"""robots.txt, read once per site and kept for a few hours (RFC 9309 allows a day).

A site's rules are looked up under the first word of qa's User-Agent ("qa"). As the
RFC says: no robots.txt (a 4xx) allows everything; one that cannot be read (a 5xx or
no connection) allows nothing until it can.
"""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

ROBOTS_TTL = 6 * 3600.0  # seconds a site's robots.txt is trusted before it is read again
ROBOTS_MAX_BYTES = 500 * 1024  # the RFC's minimum to parse; the rest is ignored


@dataclass(frozen=True, slots=True)
class RobotsFile:
    """A site's robots.txt as fetched: its text, or None when there is none (allow all)."""

    text: str | None
    fetched_at: float


class RobotsStore(Protocol):
    """Somewhere robots.txt files outlive the process (the watcher's state)."""

    def load_robots(self, origin: str) -> RobotsFile | None: ...

    def save_robots(self, origin: str, robots: RobotsFile) -> None: ...


class Robots:
    """The robots.txt rules of each site, fetched when first needed; thread-safe."""

    def __init__(self, store: RobotsStore | None = None, ttl: float = ROBOTS_TTL) -> None:
        self._store = store
        self._ttl = ttl
        self._parsed: dict[str, tuple[float, urllib.robotparser.RobotFileParser]] = {}
        self._lock = _Locks()

    def rules(
        self, origin: str, fetch: Callable[[str], str | None]
    ) -> urllib.robotparser.RobotFileParser:
        """The rules of ``origin`` ("https://host:port"); ``fetch`` reads its robots.txt
        (None when there is none) and raises when it cannot be read."""
        with self._lock.get(origin):  # one fetch per site, however many threads ask
            now = time.time()
            cached = self._parsed.get(origin)
            if cached is not None and now - cached[0] < self._ttl:
                return cached[1]
            stored = self._store.load_robots(origin) if self._store is not None else None
            if stored is None or now - stored.fetched_at >= self._ttl:
                stored = RobotsFile(fetch(f"{origin}/robots.txt"), now)
                if self._store is not None:
                    self._store.save_robots(origin, stored)
            parser = _parse(stored.text)
            self._parsed[origin] = (stored.fetched_at, parser)
            return parser


class _Locks:
    """A lock per key, made when first asked for."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


def _parse(text: str | None) -> urllib.robotparser.RobotFileParser:
    parser = urllib.robotparser.RobotFileParser()
    parser.parse((text or "").splitlines())  # no rules at all: everything is allowed
    parser.modified()  # marks it read: can_fetch answers False for a parser never read
    return parser
