"""The articles, passages and sentences in PostgreSQL (psycopg 3, a connection pool).

Every write is a transaction. New rows go in as 'pending' and become 'live' in the
transaction that records the new version, after their vectors are in Milvus; readers
read only live rows, in one repeatable-read transaction, so a snapshot never holds a
passage without its text or vectors. The schema is migrated on first use from the SQL
files in ``migrations/``, in order, each once.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from qa.config import Settings
from qa.errors import IndexBusyError, InputError, StoreUnavailableError
from qa.store.base import Changes, NewArticle, StoredPassage
from qa.store.manifest import Manifest
from qa.types import Article, Source, Span

_LOCK_WRITER = 0x7161_7772  # pg_advisory_lock key of the one writer ("qawr")
_LOCK_MIGRATE = 0x7161_6D67  # and of the one migrating ("qamg")
_ARTICLE_COLUMNS = "id, title, outlet, author, published, url, origin, text"


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, SQL) of every migration shipped in the package, in order."""
    folder = resources.files("qa.store.remote") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


@dataclass(frozen=True, slots=True)
class Rows:
    """One version's live rows, read in one transaction."""

    version: int
    manifest: Manifest
    articles: dict[str, Article]
    uids: dict[str, int]  # article id -> its row, which Milvus rows name
    passages: dict[int, StoredPassage]
    sentences: dict[int, Span]


class Postgres:
    """A pool of connections to one database; each call takes one and gives it back."""

    def __init__(self, url: str, timeout: float) -> None:
        self.where = describe(url)
        self.timeout = timeout
        self._url = url
        self._pool: Any = None
        self._lock = threading.Lock()
        self._migrated = False

    def _opened(self) -> Any:
        """The pool, opened on first use (and again after ``close``)."""
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                pool = ConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=8,
                    timeout=self.timeout,
                    open=False,
                    check=ConnectionPool.check_connection,
                    kwargs={"connect_timeout": max(1, round(self.timeout))},
                    reset=_reset,
                    name="qa",
                )
                pool.open(wait=False)
                atexit.register(pool.close)  # its threads end before the interpreter does
                self._pool = pool
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                atexit.unregister(self._pool.close)
                self._pool = None

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled connection in a transaction; every failure is StoreUnavailableError."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._opened().connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise StoreUnavailableError(
                f"PostgreSQL at {self.where} cannot be reached ({_first_line(exc)}); start "
                "it or fix QA_DATABASE_URL. Nothing half-written is shown meanwhile"
            ) from exc

    def reachable(self) -> str | None:
        try:
            with self.connection() as conn:
                conn.execute("SELECT 1")
        except StoreUnavailableError as exc:
            return str(exc)
        return None

    def migrate(self) -> None:
        """Apply the migrations this database lacks, once, under a lock across processes."""
        if self._migrated:
            return
        with self.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_MIGRATE,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS qa_migrations (number INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT number FROM qa_migrations")}
            for number, name, sql in migrations():
                if number not in done:
                    conn.execute(sql)
                    conn.execute(
                        "INSERT INTO qa_migrations (number, name) VALUES (%s, %s)", (number, name)
                    )
        self._migrated = True

    def current(self) -> int | None:
        self.migrate()
        with self.connection() as conn:
            row = conn.execute("SELECT max(id) FROM qa_versions").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def read(self) -> Rows | None:
        """The newest version's live rows; None when nothing was ever written."""
        self.migrate()
        with self.connection() as conn:
            conn.isolation_level = _repeatable_read()
            with conn.transaction():
                row = conn.execute(
                    "SELECT id, manifest FROM qa_versions ORDER BY id DESC LIMIT 1"
                ).fetchone()
                if row is None:
                    return None
                version, manifest = int(row[0]), Manifest.from_json(_json(row[1]))
                articles, uids = {}, {}
                for r in conn.execute(
                    f"SELECT uid, {_ARTICLE_COLUMNS} FROM qa_articles WHERE state = 'live'"
                ):
                    articles[r[1]] = Article(Source(*r[1:7]), text=r[8], origin=r[7])
                    uids[r[1]] = int(r[0])
                passages = {
                    int(r[0]): StoredPassage(int(r[0]), r[1], r[2], r[3], r[4], r[5])
                    for r in conn.execute(
                        "SELECT p.id, a.id, p.first_sentence, p.last_sentence, p.start_char, "
                        "p.end_char FROM qa_passages p JOIN qa_articles a ON a.uid = "
                        "p.article_uid WHERE a.state = 'live'"
                    )
                }
                sentences = {
                    int(r[0]): Span(r[1], r[2])
                    for r in conn.execute(
                        "SELECT s.id, s.start_char, s.end_char FROM qa_sentences s JOIN "
                        "qa_articles a ON a.uid = s.article_uid WHERE a.state = 'live'"
                    )
                }
        return Rows(version, manifest, articles, uids, passages, sentences)

    @contextlib.contextmanager
    def writer(self, timeout: float) -> Iterator[None]:
        """One writer at a time across every process and machine: an advisory lock held
        on its own connection (released by PostgreSQL if the writer dies)."""
        self.migrate()
        with self.connection() as conn:
            conn.autocommit = True
            deadline = time.monotonic() + timeout
            while not conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_WRITER,)).fetchone()[
                0
            ]:
                if time.monotonic() >= deadline:
                    raise IndexBusyError(
                        f"another qa process is writing the store at {self.where}; "
                        "try again when it has finished"
                    )
                time.sleep(0.2)
            try:
                yield
            finally:
                with contextlib.suppress(Exception):  # a lost connection released it already
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_WRITER,))

    def leftovers(self) -> list[int]:
        """Rows of articles a failed or interrupted write left pending or retired."""
        with self.connection() as conn:
            rows = conn.execute("SELECT uid FROM qa_articles WHERE state <> 'live'").fetchall()
        return [int(r[0]) for r in rows]

    def forget(self, uids: Sequence[int]) -> None:
        """Delete articles' rows (their vectors are gone from Milvus already)."""
        if uids:
            with self.connection() as conn, conn.transaction():
                conn.execute("DELETE FROM qa_articles WHERE uid = ANY(%s)", (list(uids),))

    def stage(self, upserts: Sequence[NewArticle]) -> list[int]:
        """Insert new articles' rows as pending; their uids, in order."""
        uids: list[int] = []
        if not upserts:
            return uids
        with self.connection() as conn, conn.transaction(), conn.cursor() as cur:
            for new in upserts:
                a = new.article
                s = a.source
                row = cur.execute(
                    "INSERT INTO qa_articles (id, title, outlet, author, published, url, origin, "
                    "text, text_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING uid",
                    (
                        a.id,
                        s.title,
                        s.outlet,
                        s.author,
                        s.published,
                        s.url,
                        a.origin,
                        a.text,
                        a.text_hash,
                    ),
                ).fetchone()
                uid = int(row[0])
                uids.append(uid)
                cur.executemany(
                    "INSERT INTO qa_sentences VALUES (%s, %s, %s, %s)",
                    [(sid, uid, span.start, span.end) for sid, span in new.sentences],
                )
                cur.executemany(
                    "INSERT INTO qa_passages VALUES (%s, %s, %s, %s, %s, %s)",
                    [
                        (p.id, uid, p.first_sentence, p.last_sentence, p.start, p.end)
                        for p in new.passages
                    ],
                )
        return uids

    def next_free_id(self) -> int:
        """The passage and sentence ids from here on are used by no row (0: no row yet)."""
        with self.connection() as conn:
            row = conn.execute(
                "SELECT greatest((SELECT max(id) FROM qa_passages), "
                "(SELECT max(id) FROM qa_sentences))"
            ).fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def live_uids(self, article_ids: Sequence[str]) -> dict[str, int]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT id, uid FROM qa_articles WHERE state = 'live' AND id = ANY(%s)",
                (list(article_ids),),
            ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def publish(self, changes: Changes, staged: Sequence[int]) -> tuple[int, Manifest, list[int]]:
        """One transaction: staged rows go live, replaced and removed ones retire, metadata
        changes, and the new version is recorded. Its number and manifest, and the
        retired uids."""
        gone = [*changes.deletes, *(n.article.id for n in changes.upserts)]
        with self.connection() as conn, conn.transaction():
            retired = conn.execute(
                "UPDATE qa_articles SET state = 'retired' WHERE state = 'live' "
                "AND (%s OR id = ANY(%s)) RETURNING uid",
                (changes.fresh, gone),
            ).fetchall()
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE qa_articles SET title = %s, outlet = %s, author = %s, "
                    "published = %s, url = %s, origin = %s WHERE state = 'live' AND id = %s",
                    [
                        (
                            a.source.title,
                            a.source.outlet,
                            a.source.author,
                            a.source.published,
                            a.source.url,
                            a.origin,
                            a.id,
                        )
                        for a in changes.metadata
                    ],
                )
            conn.execute(
                "UPDATE qa_articles SET state = 'live' WHERE uid = ANY(%s)", (list(staged),)
            )
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM qa_articles WHERE state = 'live'), "
                "(SELECT count(*) FROM qa_passages p JOIN qa_articles a ON a.uid = "
                "p.article_uid WHERE a.state = 'live'), "
                "(SELECT count(*) FROM qa_sentences s JOIN qa_articles a ON a.uid = "
                "s.article_uid WHERE a.state = 'live')"
            ).fetchone()
            manifest = dataclasses.replace(
                changes.manifest, articles=counts[0], passages=counts[1], sentences=counts[2]
            )
            version = conn.execute(
                "INSERT INTO qa_versions (manifest) VALUES (%s) RETURNING id",
                (manifest.to_json(),),
            ).fetchone()[0]
        return int(version), manifest, [int(r[0]) for r in retired]


def database_url(settings: Settings) -> str:
    """QA_DATABASE_URL, which QA_STORE=milvus cannot do without."""
    if settings.database_url is None or not settings.database_url.get_secret_value():
        raise InputError(
            "QA_STORE=milvus keeps the articles in PostgreSQL: set QA_DATABASE_URL, "
            "e.g. postgresql://qa:secret@db:5432/qa (see docs/scaling.md)"
        )
    return settings.database_url.get_secret_value()


def describe(url: str) -> str:
    """host:port/database of a URL, never its password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:  # psycopg.ProgrammingError; the URL is reported without its secrets
        return "the QA_DATABASE_URL given"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


def _reset(conn: Any) -> None:
    """What a call changed on its connection is undone before the next one gets it."""
    conn.autocommit = False
    conn.isolation_level = None


def _repeatable_read() -> Any:
    from psycopg import IsolationLevel

    return IsolationLevel.REPEATABLE_READ


def _json(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
