"""The feed watcher's state in PostgreSQL, beside the articles: with several watchers or
servers on one store, a feed fetched by one is asked for conditionally by the others.

The same records and methods as ``qa.feeds.state.SqliteWatchState``, which the local
store uses.
"""

from __future__ import annotations

from collections.abc import Iterable

from qa.feeds.robots import RobotsFile
from qa.feeds.state import Seen
from qa.store.remote.postgres import Postgres


class PostgresWatchState:
    """The feed tables of the store's database (migrated with it)."""

    def __init__(self, url: str, timeout: float) -> None:
        self._db = Postgres(url, timeout)
        self._db.migrate()

    def close(self) -> None:
        self._db.close()

    def get(self, url: str) -> Seen | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT url, etag, last_modified, stamp, article_ids FROM qa_feeds_fetched "
                "WHERE url = %s",
                (url,),
            ).fetchone()
        return None if row is None else Seen(row[0], row[1], row[2], row[3], tuple(row[4]))

    def save(self, rows: Iterable[Seen]) -> None:
        values = [(r.url, r.etag, r.last_modified, r.stamp, list(r.article_ids)) for r in rows]
        if not values:
            return
        with self._db.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO qa_feeds_fetched (url, etag, last_modified, stamp, article_ids) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (url) DO UPDATE SET "
                "etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified, "
                "stamp = EXCLUDED.stamp, article_ids = EXCLUDED.article_ids, checked_at = now()",
                values,
            )

    def load_robots(self, origin: str) -> RobotsFile | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT body, fetched_at FROM qa_feeds_robots WHERE origin = %s", (origin,)
            ).fetchone()
        return None if row is None else RobotsFile(row[0], float(row[1]))

    def save_robots(self, origin: str, robots: RobotsFile) -> None:
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO qa_feeds_robots VALUES (%s, %s, %s) ON CONFLICT (origin) DO UPDATE "
                "SET body = EXCLUDED.body, fetched_at = EXCLUDED.fetched_at",
                (origin, robots.text, robots.fetched_at),
            )
