"""Votes on answers in PostgreSQL, beside the articles: with several servers behind one
proxy, a vote and the bot's "More" button work whichever server gets them.

The same records and methods as ``qa.feedback.FeedbackStore`` (SQLite), which the
local store uses; a second vote of a user on one answer replaces the first.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from qa.feedback import WEB_PREFIX, Asked, Vote, now
from qa.schemas import AnswerOut
from qa.store.remote.postgres import Postgres

_COLUMNS = (
    "question_id, rank, user_id, chat_id, question, article_id, quote_start, quote_end, "
    "vote, voted_at, channel, quote"
)
_REPLACE = (
    "ON CONFLICT (question_id, rank, user_id) DO UPDATE SET chat_id = EXCLUDED.chat_id, "
    "vote = EXCLUDED.vote, voted_at = EXCLUDED.voted_at, quote = EXCLUDED.quote"
)


class PostgresFeedback:
    """The feedback tables of the store's database (migrated with it)."""

    def __init__(self, url: str, timeout: float) -> None:
        self._db = Postgres(url, timeout)
        self._db.migrate()

    def close(self) -> None:
        self._db.close()

    def add_question(self, chat_id: int, user_id: int | None, question: str) -> str:
        question_id = secrets.token_urlsafe(6)
        with self._db.connection() as conn:
            conn.execute(
                "INSERT INTO qa_questions VALUES (%s, %s, %s, %s, %s)",
                (question_id, chat_id, user_id, question, now()),
            )
        return question_id

    def question(self, question_id: str) -> Asked | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT id, chat_id, question FROM qa_questions WHERE id = %s", (question_id,)
            ).fetchone()
        return Asked(row[0], int(row[1]), row[2]) if row else None

    def add_shown(self, question_id: str, first_rank: int, answers: Sequence[AnswerOut]) -> None:
        rows = [
            (question_id, rank, a.source.article_id, a.start, a.end, a.quote)
            for rank, a in enumerate(answers, start=first_rank)
        ]
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO qa_shown VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT "
                "(question_id, rank) DO UPDATE SET article_id = EXCLUDED.article_id, "
                "quote_start = EXCLUDED.quote_start, quote_end = EXCLUDED.quote_end, "
                "quote = EXCLUDED.quote",
                rows,
            )

    def vote(self, question_id: str, rank: int, user_id: int, chat_id: int, vote: int) -> bool:
        with self._db.connection() as conn:
            cursor = conn.execute(
                f"INSERT INTO qa_feedback ({_COLUMNS}) "
                "SELECT q.id, s.rank, %s, %s, q.question, s.article_id, s.quote_start, "
                "s.quote_end, %s, %s, 'telegram', s.quote FROM qa_questions q JOIN qa_shown s "
                f"ON s.question_id = q.id WHERE q.id = %s AND s.rank = %s {_REPLACE}",
                (user_id, chat_id, vote, now(), question_id, rank),
            )
            return bool(cursor.rowcount > 0)

    def web_vote(
        self, page_id: str, rank: int, question: str, answer: tuple[str, int, int, str], vote: int
    ) -> Vote:
        article_id, start, end, quote = answer
        row = (WEB_PREFIX + page_id, rank, 0, 0, question, article_id, start, end, vote)
        record = Vote(*row, voted_at=now(), channel="web", quote=quote)
        with self._db.connection() as conn:
            conn.execute(
                f"INSERT INTO qa_feedback ({_COLUMNS}) VALUES "
                f"(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) {_REPLACE}",
                (*row, record.voted_at, record.channel, record.quote),
            )
        return record

    def votes(self) -> list[Vote]:
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM qa_feedback ORDER BY voted_at, id"
            ).fetchall()
        return [Vote(*row) for row in rows]
