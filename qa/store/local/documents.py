"""Articles, passages and sentences in SQLite; only numbers are held in memory.

A write copies the version before and changes only the rows of the articles it names,
inside one transaction, so a large index is not rewritten for one article.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from qa.kept import keep
from qa.store.base import Changes, NewArticle, StoredPassage
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
_KEPT_ARTICLES = 4096  # article texts kept in memory after a question read them
# Passages and sentences kept as objects once asked for (each kind; then forgotten and
# made again): a question looks up a few hundred, mostly the same as the last one's,
# and making them from the arrays each time took a sixth of the question path's time
# under 16 clients (py-spy).
_KEPT_ROWS = 100_000


class SqliteDocuments:
    """The documents of one version, read from its SQLite file as they are asked for.

    Passages and sentences are held as arrays of numbers (tens of bytes each, so a
    million passages cost tens of megabytes); an article's text is read when a
    question needs it and a few thousand are kept. Versions never change once
    published, so the file is opened immutable, shared by the threads that answer.
    """

    def __init__(self, path: Path) -> None:
        db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self._db = db
        weakref.finalize(self, db.close)  # closed with the snapshot that holds it
        self._lock = threading.Lock()
        self._passages: dict[int, StoredPassage] = {}  # by id, at most _KEPT_ROWS
        self._spans: dict[int, Span] = {}
        ids: list[str] = []
        sources: list[Source] = []
        for row in db.execute(
            "SELECT id, title, outlet, author, published, url FROM articles ORDER BY id"
        ):
            ids.append(row[0])
            sources.append(Source(*row))
        self.article_ids = ids
        self.code_of = {a: i for i, a in enumerate(ids)}
        self.sources: tuple[Source, ...] = tuple(sources)
        self._articles = _Articles(self)
        rows = _array(
            db,
            "SELECT id, article_id, first_sentence, last_sentence, start_char, "
            "end_char FROM passages",
            6,
            self.code_of,
        )
        order = np.lexsort((rows[:, 4], rows[:, 1]))  # by article, then position
        self._by_article_rows = rows[order]
        starts = np.searchsorted(self._by_article_rows[:, 1], np.arange(len(ids) + 1))
        self._article_starts = starts
        by_id = np.argsort(self._by_article_rows[:, 0], kind="stable")
        self._passage_ids = self._by_article_rows[by_id, 0]
        self._passage_rows = by_id
        sentences = _array(db, "SELECT id, start_char, end_char FROM sentences", 3, None)
        sentences = sentences[np.argsort(sentences[:, 0], kind="stable")]
        self._sentence_ids = sentences[:, 0].copy()
        self._sentence_spans = sentences[:, 1:].copy()

    @classmethod
    def read(cls, path: Path) -> SqliteDocuments:
        """Raise OSError or sqlite3.Error when the file is missing or damaged."""
        if not path.is_file():
            raise OSError(f"{path.name} is missing")
        return cls(path)

    @property
    def articles(self) -> Mapping[str, Article]:
        return self._articles

    def passage(self, passage_id: int) -> StoredPassage:
        found = self._passages.get(passage_id)
        if found is None:
            row = self._passage_rows[_find(self._passage_ids, passage_id, "passage")]
            found = keep(self._passages, passage_id, self._stored(row), _KEPT_ROWS)
        return found

    def passages_of(self, article_id: str) -> Sequence[StoredPassage]:
        code = self.code_of.get(article_id)
        if code is None:
            return ()
        first, last = self._article_starts[code], self._article_starts[code + 1]
        return tuple(self._stored(row) for row in range(first, last))

    def sentence(self, sentence_id: int) -> Span:
        found = self._spans.get(sentence_id)
        if found is None:
            row = _find(self._sentence_ids, sentence_id, "sentence")
            start, end = self._sentence_spans[row]
            found = keep(self._spans, sentence_id, Span(int(start), int(end)), _KEPT_ROWS)
        return found

    def sentences_before(self, passage: StoredPassage, n: int) -> tuple[Span, ...]:
        # An article's sentence ids are consecutive, from its first passage's first one.
        first_row = self._article_starts[self.code_of[passage.article_id]]
        opening = int(self._by_article_rows[first_row, 2])  # its first passage's first sentence
        ids = range(max(opening, passage.first_sentence - n), passage.first_sentence)
        return tuple(self.sentence(i) for i in ids)

    def passage_count(self) -> int:
        return len(self._passage_ids)

    def sentence_count(self) -> int:
        return len(self._sentence_ids)

    def listing(self) -> list[tuple[Source, int]]:
        counts = np.diff(self._article_starts)
        return [(s, int(n)) for s, n in zip(self.sources, counts, strict=True)]

    def passage_ids(self) -> list[int]:
        return [int(i) for i in self._passage_ids]

    def passage_id_array(self) -> NDArray[np.int64]:
        """Every passage id, ascending."""
        ids: NDArray[np.int64] = self._passage_ids
        return ids

    def passage_article_codes(self) -> NDArray[np.int64]:
        """Each passage's article (its index in ``sources``), in ``passage_id_array`` order."""
        codes: NDArray[np.int64] = self._by_article_rows[self._passage_rows, 1]
        return codes

    def article_text(self, article_id: str) -> tuple[str, str | None] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, origin FROM articles WHERE id = ?", (article_id,)
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def _stored(self, row: int) -> StoredPassage:
        pid, code, first, last, start, end = (int(v) for v in self._by_article_rows[row])
        return StoredPassage(pid, self.article_ids[code], first, last, start, end)


class _Articles(Mapping[str, Article]):
    """The articles by id; texts read from SQLite when asked for, the recent ones kept."""

    def __init__(self, docs: SqliteDocuments) -> None:
        self._docs = docs
        self._kept: OrderedDict[str, Article] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, article_id: str) -> Article:
        with self._lock:
            found = self._kept.get(article_id)
            if found is not None:
                self._kept.move_to_end(article_id)
                return found
        code = self._docs.code_of.get(article_id)
        row = None if code is None else self._docs.article_text(article_id)
        if code is None or row is None:
            raise KeyError(article_id)
        article = Article(self._docs.sources[code], text=row[0], origin=row[1])
        with self._lock:
            self._kept[article_id] = article
            if len(self._kept) > _KEPT_ARTICLES:
                self._kept.popitem(last=False)
        return article

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._docs.code_of

    def __iter__(self) -> Iterator[str]:
        return iter(self._docs.article_ids)

    def __len__(self) -> int:
        return len(self._docs.article_ids)


def _array(
    db: sqlite3.Connection, query: str, width: int, codes: dict[str, int] | None
) -> NDArray[np.int64]:
    """A query's integer rows as one array; ``codes`` turns the second column's article
    ids into their indexes."""
    flat: list[int] = []
    for row in db.execute(query):
        if codes is None:
            flat.extend(row)
        else:
            flat.append(row[0])
            flat.append(codes[row[1]])
            flat.extend(row[2:])
    return np.asarray(flat, dtype=np.int64).reshape(-1, width)


def _find(ids: NDArray[np.int64], wanted: int, what: str) -> int:
    row = int(np.searchsorted(ids, wanted))
    if row >= len(ids) or ids[row] != wanted:
        raise KeyError(f"no {what} {wanted}")
    return row


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
        _insert(db, changes.upserts)


def append(path: Path, upserts: Sequence[NewArticle]) -> None:
    """Add new articles to documents being written (a fresh file when there is none yet),
    one batch of a write too large to hold at once."""
    fresh = not path.exists()
    with closing(sqlite3.connect(path)) as db, db:
        if fresh:
            db.executescript(SCHEMA)
        _insert(db, upserts)


def _insert(db: sqlite3.Connection, upserts: Sequence[NewArticle]) -> None:
    db.executemany(
        "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (*_source(n.article), n.article.origin, n.article.text, n.article.text_hash)
            for n in upserts
        ],
    )
    db.executemany(
        "INSERT INTO sentences VALUES (?, ?, ?, ?)",
        [(sid, n.article.id, s.start, s.end) for n in upserts for sid, s in n.sentences],
    )
    db.executemany(
        "INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?)",
        [
            (p.id, p.article_id, p.first_sentence, p.last_sentence, p.start, p.end)
            for n in upserts
            for p in n.passages
        ],
    )


def _source(article: Article) -> tuple[str | None, ...]:
    s = article.source
    return (s.article_id, s.title, s.outlet, s.author, s.published, s.url)
