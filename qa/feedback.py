"""Votes on answers in SQLite, from every channel (the Telegram bot, the web page).

The bot's buttons can carry only 64 bytes (callback_data), so they hold a short question
id and the question itself lives here too. Being on disk, "More" and 👍/👎 keep working
after a restart. Every vote is kept with what it judges: the question, the answer's
article, offsets and quote, and the channel it came from, so that votes can later become
test questions (``qa feedback --testset``).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from qa.config import Settings
from qa.errors import QAError
from qa.schemas import AnswerOut

Channel = Literal["telegram", "web"]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    user_id INTEGER,
    question TEXT NOT NULL,
    asked_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shown (
    question_id TEXT NOT NULL REFERENCES questions (id),
    rank INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    quote_start INTEGER NOT NULL,
    quote_end INTEGER NOT NULL,
    quote TEXT NOT NULL,
    PRIMARY KEY (question_id, rank)
);
CREATE TABLE IF NOT EXISTS feedback (
    question_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,
    question TEXT NOT NULL,
    article_id TEXT NOT NULL,
    quote_start INTEGER NOT NULL,
    quote_end INTEGER NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    voted_at TEXT NOT NULL,
    PRIMARY KEY (question_id, rank, user_id)
);
"""
# Columns added after the first release, with how to fill them in older files.
_ADDED = (
    ("channel", "TEXT NOT NULL DEFAULT 'telegram'", None),
    (
        "quote",
        "TEXT",
        """UPDATE feedback SET quote = (SELECT s.quote FROM shown s
           WHERE s.question_id = feedback.question_id AND s.rank = feedback.rank)
           WHERE quote IS NULL""",
    ),
)
_COLUMNS = (
    "question_id, rank, user_id, chat_id, question, article_id, quote_start, quote_end, "
    "vote, voted_at, channel, quote"
)
WEB_PREFIX = "web-"  # the web page's question ids, apart from the bot's


@dataclass(frozen=True, slots=True)
class Asked:
    """A question as the bot keeps it for its buttons."""

    id: str
    chat_id: int
    question: str


@dataclass(frozen=True, slots=True)
class Vote:
    """One 👍 (+1) or 👎 (-1) on one answer; a user's second vote on it replaces the first.

    On the web page there are no users or chats: both are 0, and the question id is the
    page's own for one question asked.
    """

    question_id: str
    rank: int  # the answer's number as shown, from 1
    user_id: int
    chat_id: int
    question: str
    article_id: str
    start: int
    end: int
    vote: int
    voted_at: str
    channel: str = "telegram"
    quote: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "vote": self.vote,
            "article_id": self.article_id,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
            "rank": self.rank,
            "channel": self.channel,
            "question_id": self.question_id,
            "voted_at": self.voted_at,
        }


class FeedbackStore:
    """One SQLite file; a connection per call, so any thread may use it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.executescript(_SCHEMA)
                _migrate(db)
        except (OSError, sqlite3.Error) as exc:
            raise QAError(
                f"cannot use {path} for questions and feedback ({exc}); "
                "set QA_TELEGRAM_DB to a writable file"
            ) from exc

    def add_question(self, chat_id: int, user_id: int | None, question: str) -> str:
        """Keep a question; return the short id its buttons carry."""
        question_id = secrets.token_urlsafe(6)  # 8 characters, 48 random bits
        with self._connect() as db:
            db.execute(
                "INSERT INTO questions VALUES (?, ?, ?, ?, ?)",
                (question_id, chat_id, user_id, question, now()),
            )
        return question_id

    def question(self, question_id: str) -> Asked | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT id, chat_id, question FROM questions WHERE id = ?", (question_id,)
            ).fetchone()
        return Asked(*row) if row else None

    def add_shown(self, question_id: str, first_rank: int, answers: Sequence[AnswerOut]) -> None:
        """Remember which answers were shown under which numbers, for the votes."""
        rows = [
            (question_id, rank, a.source.article_id, a.start, a.end, a.quote)
            for rank, a in enumerate(answers, start=first_rank)
        ]
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO shown VALUES (?, ?, ?, ?, ?, ?)", rows)

    def vote(self, question_id: str, rank: int, user_id: int, chat_id: int, vote: int) -> bool:
        """Record a vote on an answer the bot showed; False if that answer is not known."""
        with self._connect() as db:
            cursor = db.execute(
                f"""INSERT OR REPLACE INTO feedback ({_COLUMNS})
                   SELECT q.id, s.rank, ?, ?, q.question, s.article_id, s.quote_start,
                          s.quote_end, ?, ?, 'telegram', s.quote
                   FROM questions q JOIN shown s ON s.question_id = q.id
                   WHERE q.id = ? AND s.rank = ?""",
                (user_id, chat_id, vote, now(), question_id, rank),
            )
            return cursor.rowcount > 0

    def web_vote(
        self, page_id: str, rank: int, question: str, answer: tuple[str, int, int, str], vote: int
    ) -> Vote:
        """Record a vote from the web page on ``answer`` (article id, start, end, quote).

        ``page_id`` is the page's id for one question asked there: a second vote on the
        same answer of that question replaces the first.
        """
        article_id, start, end, quote = answer
        row = (WEB_PREFIX + page_id, rank, 0, 0, question, article_id, start, end, vote)
        record = Vote(*row, voted_at=now(), channel="web", quote=quote)
        with self._connect() as db:
            db.execute(
                f"INSERT OR REPLACE INTO feedback ({_COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, record.voted_at, record.channel, record.quote),
            )
        return record

    def votes(self) -> list[Vote]:
        with self._connect() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM feedback ORDER BY voted_at, rowid"
            ).fetchall()
        return [Vote(*row) for row in rows]

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success and is always closed."""
        with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
            yield db


def _migrate(db: sqlite3.Connection) -> None:
    """Add the columns a file made by an older qa lacks; its rows are kept."""
    have = {row[1] for row in db.execute("PRAGMA table_info(feedback)")}
    for name, kind, fill in _ADDED:
        if name not in have:
            db.execute(f"ALTER TABLE feedback ADD COLUMN {name} {kind}")
            if fill:
                db.execute(fill)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Votes(Protocol):
    """Where votes are kept: SQLite beside the local store, PostgreSQL beside Milvus."""

    def add_question(self, chat_id: int, user_id: int | None, question: str) -> str: ...

    def question(self, question_id: str) -> Asked | None: ...

    def add_shown(
        self, question_id: str, first_rank: int, answers: Sequence[AnswerOut]
    ) -> None: ...

    def vote(self, question_id: str, rank: int, user_id: int, chat_id: int, vote: int) -> bool: ...

    def web_vote(
        self, page_id: str, rank: int, question: str, answer: tuple[str, int, int, str], vote: int
    ) -> Vote: ...

    def votes(self) -> list[Vote]: ...


def open_votes(settings: Settings) -> Votes:
    """The votes of the store the settings name: with QA_STORE=milvus in its PostgreSQL
    (so every server behind a proxy shares them), else in QA_TELEGRAM_DB."""
    if settings.store == "milvus" and settings.database_url is not None:
        from qa.store.remote.feedback import PostgresFeedback

        return PostgresFeedback(settings.database_url.get_secret_value(), settings.store_timeout)
    return FeedbackStore(settings.telegram_db)


def as_testset(votes: Sequence[Vote]) -> list[dict[str, Any]]:
    """The 👍 votes as qa's test set (what ``qa eval`` reads): one record per question,
    the quotes voted up as its answers, their articles as the ones that count."""
    merged: dict[str, dict[str, list[str]]] = {}
    for vote in votes:
        if vote.vote > 0 and vote.quote:
            record = merged.setdefault(vote.question, {"answers": [], "article_ids": []})
            for key, value in (("answers", vote.quote), ("article_ids", vote.article_id)):
                if value not in record[key]:
                    record[key].append(value)
    return [
        {"id": "fb-" + hashlib.sha256(q.encode("utf-8")).hexdigest()[:10], "question": q, **rec}
        for q, rec in merged.items()
    ]
