"""The bot's memory in SQLite: questions asked, answers shown, and votes on them.

Buttons can carry only 64 bytes (callback_data), so they hold a short question id and
the question itself lives here. Being on disk, "More" and 👍/👎 keep working after a
restart, and the votes are kept with what they judge: the question, the answer's
article and offsets, and the chat.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from qa.errors import QAError
from qa.types import Answer

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
    question_id TEXT NOT NULL REFERENCES questions (id),
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


@dataclass(frozen=True, slots=True)
class Asked:
    """A question as the bot keeps it for its buttons."""

    id: str
    chat_id: int
    question: str


@dataclass(frozen=True, slots=True)
class Vote:
    """One 👍 (+1) or 👎 (-1) on one answer; a user's second vote on it replaces the first."""

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


class FeedbackStore:
    """One SQLite file; a connection per call, so any thread may use it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise QAError(
                f"cannot use {path} for the bot's questions and feedback ({exc}); "
                "set QA_TELEGRAM_DB to a writable file"
            ) from exc

    def add_question(self, chat_id: int, user_id: int | None, question: str) -> str:
        """Keep a question; return the short id its buttons carry."""
        question_id = secrets.token_urlsafe(6)  # 8 characters, 48 random bits
        with self._connect() as db:
            db.execute(
                "INSERT INTO questions VALUES (?, ?, ?, ?, ?)",
                (question_id, chat_id, user_id, question, _now()),
            )
        return question_id

    def question(self, question_id: str) -> Asked | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT id, chat_id, question FROM questions WHERE id = ?", (question_id,)
            ).fetchone()
        return Asked(*row) if row else None

    def add_shown(self, question_id: str, first_rank: int, answers: Sequence[Answer]) -> None:
        """Remember which answers were shown under which numbers, for the votes."""
        rows = [
            (question_id, rank, a.source.article_id, a.start, a.end, a.quote)
            for rank, a in enumerate(answers, start=first_rank)
        ]
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO shown VALUES (?, ?, ?, ?, ?, ?)", rows)

    def vote(self, question_id: str, rank: int, user_id: int, chat_id: int, vote: int) -> bool:
        """Record a vote on a shown answer; False if that answer is not known."""
        with self._connect() as db:
            cursor = db.execute(
                """INSERT OR REPLACE INTO feedback
                   SELECT q.id, s.rank, ?, ?, q.question, s.article_id, s.quote_start,
                          s.quote_end, ?, ?
                   FROM questions q JOIN shown s ON s.question_id = q.id
                   WHERE q.id = ? AND s.rank = ?""",
                (user_id, chat_id, vote, _now(), question_id, rank),
            )
            return cursor.rowcount > 0

    def votes(self) -> list[Vote]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM feedback ORDER BY voted_at, rank").fetchall()
        return [Vote(*row) for row in rows]

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success and is always closed."""
        with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
            yield db


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
