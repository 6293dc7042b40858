"""What the watcher remembers between polls: each feed's and page's ETag and
Last-Modified (for conditional requests), the feed entry's date last seen and the
article it became, and each site's robots.txt.

It lives beside the store's articles: in SQLite in the index folder with the local
store, in PostgreSQL with QA_STORE=milvus, so that watchers and servers on several
machines share it (``open_state`` picks one from the settings).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Container, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from qa.config import Settings
from qa.errors import QAError
from qa.feeds.robots import RobotsFile

STATE_NAME = "feeds.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS fetched (
    url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, stamp TEXT, article_ids TEXT NOT NULL,
    checked_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS robots (origin TEXT PRIMARY KEY, body TEXT, fetched_at REAL NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Seen:
    """A feed or page as last fetched."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    stamp: str | None = None  # the feed entry's date when its page was fetched
    article_ids: tuple[str, ...] = ()  # a page's article, or the articles of a feed's entries

    def indexed(self, articles: Container[str]) -> bool:
        """Whether everything it gave is in the index still (if not, fetch it whole)."""
        return all(a in articles for a in self.article_ids)


class WatchState(Protocol):
    """Where the watcher's memory is kept; every implementation may be shared by threads
    and processes, and saves a poll's rows all or none."""

    def get(self, url: str) -> Seen | None: ...

    def save(self, rows: Iterable[Seen]) -> None:
        """Remember these, all or none (written after their articles were indexed)."""
        ...

    def load_robots(self, origin: str) -> RobotsFile | None: ...

    def save_robots(self, origin: str, robots: RobotsFile) -> None: ...

    def close(self) -> None: ...


def open_state(settings: Settings) -> WatchState:
    """The state of the store the settings name: PostgreSQL's with QA_STORE=milvus, else
    a file in the index folder."""
    if settings.store == "milvus":
        from qa.store.remote.feed_state import PostgresWatchState
        from qa.store.remote.postgres import database_url

        return PostgresWatchState(database_url(settings), settings.store_timeout)
    return SqliteWatchState.beside(settings.index_dir)


class SqliteWatchState:
    """The SQLite file; opened per call, so threads and processes may share it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def beside(cls, index_dir: Path) -> SqliteWatchState:
        index_dir.mkdir(parents=True, exist_ok=True)
        return cls(index_dir / STATE_NAME)

    def close(self) -> None:
        """Nothing is held between calls."""

    def get(self, url: str) -> Seen | None:
        with self._db() as db:
            row = db.execute(
                "SELECT url, etag, last_modified, stamp, article_ids FROM fetched WHERE url = ?",
                (url,),
            ).fetchone()
        if row is None:
            return None
        return Seen(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])))

    def save(self, rows: Iterable[Seen]) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._db() as db, db:
            db.executemany(
                "INSERT OR REPLACE INTO fetched VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (r.url, r.etag, r.last_modified, r.stamp, json.dumps(r.article_ids), now)
                    for r in rows
                ],
            )

    def load_robots(self, origin: str) -> RobotsFile | None:
        with self._db() as db:
            row = db.execute(
                "SELECT body, fetched_at FROM robots WHERE origin = ?", (origin,)
            ).fetchone()
        return RobotsFile(row[0], row[1]) if row else None

    def save_robots(self, origin: str, robots: RobotsFile) -> None:
        with self._db() as db, db:
            db.execute(
                "INSERT OR REPLACE INTO robots VALUES (?, ?, ?)",
                (origin, robots.text, robots.fetched_at),
            )

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(sqlite3.connect(self.path, timeout=30)) as db:
                db.executescript(_SCHEMA)
                yield db
        except sqlite3.DatabaseError as exc:
            raise QAError(
                f"{self.path}: the feed watcher's state cannot be used ({exc}); delete the "
                "file (it only remembers what was fetched, so the next poll fetches it all)"
            ) from None
