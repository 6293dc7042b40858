"""Articles, passages and sentences in SQLite, read whole into memory when opened.

A write copies the version before and changes only the rows of the articles it names,
inside one transaction, so a large index is not rewritten for one article.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path

from qa.store.base import Changes, StoredPassage
from qa.types import Article, Source, Span

SCHEMA = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY, title TEXT, outlet TEXT, author TEXT, published TEXT, url TEXT,
    origin TEXT, text TEXT NOT NULL, text_hash TEXT NOT NULL
);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
    start_char INTEGER NOT NULL, end_char INTEGER NOT NULL
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
    first_sentence INTEGER NOT NULL, last_sentence INTEGER NOT NULL,
    start_char INTEGER NOT NULL, end_char INTEGER NOT NULL
);
CREATE INDEX passages_by_article ON passages(article_id);
CREATE INDEX sentences_by_article ON sentences(article_id);
"""


class SqliteDocuments:
    """The documents of one version; lookups are dictionary reads."""

    def __init__(
        self,
        articles: dict[str, Article],
        passages: dict[int, StoredPassage],
        sentences: dict[int, Span],
    ) -> None:
        self._articles = articles
        self._passages = passages
        self._sentences = sentences
        self._by_article: dict[str, list[StoredPassage]] = {a: [] for a in articles}
        for passage in sorted(passages.values(), key=lambda p: (p.article_id, p.start)):
            self._by_article.setdefault(passage.article_id, []).append(passage)

    @classmethod
    def read(cls, path: Path) -> SqliteDocuments:
        """Raise OSError or sqlite3.Error when the file is missing or damaged."""
        if not path.is_file():
            raise OSError(f"{path.name} is missing")
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            articles = {
                row[0]: Article(Source(*row[:6]), text=row[7], origin=row[6])
                for row in db.execute(
                    "SELECT id, title, outlet, author, published, url, origin, text FROM articles"
                )
            }
            sentences = {
                row[0]: Span(row[1], row[2])
                for row in db.execute("SELECT id, start_char, end_char FROM sentences")
            }
            passages = {
                row[0]: StoredPassage(*row)
                for row in db.execute(
                    "SELECT id, article_id, first_sentence, last_sentence, start_char, end_char "
                    "FROM passages"
                )
            }
        return cls(articles, passages, sentences)

    @property
    def articles(self) -> Mapping[str, Article]:
        return self._articles

    def passage(self, passage_id: int) -> StoredPassage:
        return self._passages[passage_id]

    def passages_of(self, article_id: str) -> Sequence[StoredPassage]:
        return self._by_article.get(article_id, ())

    def sentence(self, sentence_id: int) -> Span:
        return self._sentences[sentence_id]

    def sentences_before(self, passage: StoredPassage, n: int) -> tuple[Span, ...]:
        # An article's sentence ids are consecutive, from its first passage's first one.
        opening = self._by_article[passage.article_id][0].first_sentence
        ids = range(max(opening, passage.first_sentence - n), passage.first_sentence)
        return tuple(self._sentences[i] for i in ids)

    def passage_count(self) -> int:
        return len(self._passages)

    def sentence_count(self) -> int:
        return len(self._sentences)

    def passage_ids(self) -> list[int]:
        return list(self._passages)


def write(path: Path, previous: Path | None, changes: Changes) -> None:
    """The new version's documents at ``path``: ``previous`` (unless fresh) with ``changes``."""
    if previous is not None and not changes.fresh:
        shutil.copyfile(previous, path)
    with closing(sqlite3.connect(path)) as db, db:
        if previous is None or changes.fresh:
            db.executescript(SCHEMA)
        gone = [(a,) for a in changes.deletes] + [(n.article.id,) for n in changes.upserts]
        for table in ("passages", "sentences", "articles"):
            column = "id" if table == "articles" else "article_id"
            db.executemany(f"DELETE FROM {table} WHERE {column} = ?", gone)
        db.executemany(
            "UPDATE articles SET title = ?, outlet = ?, author = ?, published = ?, url = ?, "
            "origin = ? WHERE id = ?",
            [(*_source(a)[1:], a.origin, a.id) for a in changes.metadata],
        )
        db.executemany(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (*_source(n.article), n.article.origin, n.article.text, n.article.text_hash)
                for n in changes.upserts
            ],
        )
        db.executemany(
            "INSERT INTO sentences VALUES (?, ?, ?, ?)",
            [
                (sid, n.article.id, s.start, s.end)
                for n in changes.upserts
                for sid, s in n.sentences
            ],
        )
        db.executemany(
            "INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?)",
            [
                (p.id, p.article_id, p.first_sentence, p.last_sentence, p.start, p.end)
                for n in changes.upserts
                for p in n.passages
            ],
        )


def _source(article: Article) -> tuple[str | None, ...]:
    s = article.source
    return (s.article_id, s.title, s.outlet, s.author, s.published, s.url)
