"""The index on disk: FAISS vectors, SQLite records and a manifest, checked on load.

Layout of an index folder::

    CURRENT                  name of the version in use, replaced atomically
    v-<time>-<rand>/         one complete version
        manifest.json        model, dimension, counts, format, build time
        store.sqlite         articles (cleaned text + metadata), passages, sentences
        passages.faiss       passage vectors, FAISS ids = passage ids
        sentences.faiss      sentence vectors, FAISS ids = sentence ids
        bm25/                BM25 over the passages (bm25s), with their ids
    .build-<rand>/           a version being written; renamed into place when whole

A version is never changed once written. A build writes a new one aside and then
points CURRENT at it, so a build killed halfway leaves the previous index in use.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.embed import Vectors
from qa.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from qa.lexical import Lexical
from qa.types import Article, Source, Span

FORMAT_VERSION = 2
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
STORE = "store.sqlite"
PASSAGE_VECTORS = "passages.faiss"
SENTENCE_VECTORS = "sentences.faiss"
LEXICAL = "bm25"
VERSION_NAME = re.compile(r"^v-\d{8}T\d{6}-[0-9a-f]{6}$")
REBUILD_HINT = "Run `qa index` to rebuild it"

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


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an index folder says about itself; checked before anything is trusted."""

    format: int
    model: str
    dimension: int
    articles: int
    passages: int
    sentences: int
    built_at: str
    chunking: dict[str, int]
    next_id: int  # passage and sentence ids are never reused
    versions: dict[str, str]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the manifest is not a JSON object")
        fields = {name: data[name] for name in cls.__dataclass_fields__}
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class StoredPassage:
    """A passage as indexed; its sentences are ids first..last, in order."""

    id: int
    article_id: str
    first_sentence: int
    last_sentence: int
    start: int
    end: int

    @property
    def sentence_ids(self) -> range:
        return range(self.first_sentence, self.last_sentence + 1)


class Index:
    """One version of the index, loaded into memory; never changes after loading."""

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        articles: dict[str, Article],
        passages: dict[int, StoredPassage],
        sentences: dict[int, Span],
        passage_vectors: Any,
        sentence_vectors: Any,
        lexical: Lexical,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.articles = articles
        self.passages = passages
        self.sentences = sentences
        self._passage_vectors = passage_vectors
        self._sentence_vectors = sentence_vectors
        self.lexical = lexical
        self._by_article: dict[str, list[StoredPassage]] = {a: [] for a in articles}
        for passage in sorted(passages.values(), key=lambda p: (p.article_id, p.start)):
            self._by_article.setdefault(passage.article_id, []).append(passage)

    def search(
        self, queries: Vectors, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and passage ids of the ``k`` nearest passages; id -1 pads short lists.

        ``allowed``, if given, holds the only passage ids that may be returned.
        """
        k = max(1, min(k, self._passage_vectors.ntotal))
        if allowed is None:
            return self._passage_vectors.search(queries, k)  # type: ignore[no-any-return]
        selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        params = faiss.SearchParameters()
        params.sel = selector  # the selector must outlive the search: it is held here
        return self._passage_vectors.search(queries, k, params=params)  # type: ignore[no-any-return]

    def passage_ids(self, article_ids: Iterable[str]) -> np.ndarray:
        """The ids of every passage of these articles."""
        return np.asarray(
            [p.id for a in article_ids for p in self._by_article.get(a, ())], dtype=np.int64
        )

    def sentence_vectors(self, ids: list[int]) -> Vectors:
        return _reconstruct(self._sentence_vectors, ids)

    def passage_vectors(self, ids: list[int]) -> Vectors:
        return _reconstruct(self._passage_vectors, ids)

    def sentences_before(self, passage: StoredPassage, n: int) -> tuple[Span, ...]:
        """Up to ``n`` of the article's sentences just before the passage, in order.

        An article's sentence ids are consecutive, from its first passage's first one.
        """
        opening = self._by_article[passage.article_id][0].first_sentence
        ids = range(max(opening, passage.first_sentence - n), passage.first_sentence)
        return tuple(self.sentences[i] for i in ids)

    def passages_of(self, article_id: str) -> list[StoredPassage]:
        """The article's passages in reading order."""
        return list(self._by_article.get(article_id, ()))


def current_version(index_dir: Path) -> Path:
    """The folder of the version in use; IndexMissingError when there is none."""
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        raise IndexMissingError(
            f"no index in {index_dir}: run `qa index` to build it from the seed articles "
            "(or `qa index PATH` for your own)"
        )
    name = pointer.read_text(encoding="utf-8").strip()
    if not VERSION_NAME.match(name) or not (index_dir / name).is_dir():
        raise IndexCorruptError(
            f"the index in {index_dir} is damaged: {CURRENT} names {name!r}, which is not there. "
            f"{REBUILD_HINT}."
        )
    return index_dir / name


def read_manifest(version: Path) -> Manifest:
    try:
        manifest = Manifest.from_json((version / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(
            f"the index in {version.parent} is damaged: its manifest cannot be read ({exc}). "
            f"{REBUILD_HINT}."
        ) from exc
    if manifest.format != FORMAT_VERSION:
        raise IndexMismatchError(
            f"the index in {version.parent} has format {manifest.format}, this qa reads format "
            f"{FORMAT_VERSION}. {REBUILD_HINT}."
        )
    return manifest


def check_model(
    manifest: Manifest, index_dir: Path, model: str, dimension: int | None = None
) -> None:
    """Refuse to mix vectors of two models: their scores mean nothing together."""
    if manifest.model != model:
        raise IndexMismatchError(
            f"the index in {index_dir} was built with the model {manifest.model!r}, but this run "
            f"uses {model!r}. Run `qa index` to rebuild it with {model!r}, or set "
            f"QA_MODEL={manifest.model!r}."
        )
    if dimension is not None and manifest.dimension != dimension:
        raise IndexMismatchError(
            f"the index in {index_dir} holds {manifest.dimension}-dimensional vectors, but the "
            f"model {model!r} makes {dimension}-dimensional ones. {REBUILD_HINT}."
        )


def open_index(index_dir: Path, *, model: str | None = None) -> Index:
    """Load the current version, checking it whole; errors say to run `qa index`."""
    version = current_version(index_dir)
    manifest = read_manifest(version)
    if model is not None:
        check_model(manifest, index_dir, model)
    try:
        articles, passages, sentences = _read_store(version / STORE)
        passage_vectors = faiss.read_index(str(version / PASSAGE_VECTORS))
        sentence_vectors = faiss.read_index(str(version / SENTENCE_VECTORS))
        lexical = Lexical.load(version / LEXICAL)
    except (OSError, RuntimeError, sqlite3.Error, ValueError, KeyError) as exc:
        raise IndexCorruptError(
            f"the index in {index_dir} is damaged ({_short(exc)}). {REBUILD_HINT}."
        ) from exc
    counts = {
        "articles": (len(articles), manifest.articles),
        "passages": (len(passages), manifest.passages),
        "passage vectors": (passage_vectors.ntotal, manifest.passages),
        "sentences": (len(sentences), manifest.sentences),
        "sentence vectors": (sentence_vectors.ntotal, manifest.sentences),
        "dimension": (passage_vectors.d, manifest.dimension),
        "BM25 passages": (len(lexical.ids), manifest.passages),
    }
    for what, (found, expected) in counts.items():
        if found != expected:
            raise IndexCorruptError(
                f"the index in {index_dir} is damaged: the manifest says {expected} {what}, "
                f"the files hold {found}. {REBUILD_HINT}."
            )
    return Index(
        version, manifest, articles, passages, sentences, passage_vectors, sentence_vectors, lexical
    )


def write_store(
    path: Path,
    articles: Mapping[str, Article],
    passages: list[StoredPassage],
    sentences: Mapping[int, tuple[str, Span]],
) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(SCHEMA)
        db.executemany(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    a.id,
                    a.source.title,
                    a.source.outlet,
                    a.source.author,
                    a.source.published,
                    a.source.url,
                    a.origin,
                    a.text,
                    a.text_hash,
                )
                for a in articles.values()
            ],
        )
        db.executemany(
            "INSERT INTO sentences VALUES (?, ?, ?, ?)",
            [(sid, aid, s.start, s.end) for sid, (aid, s) in sentences.items()],
        )
        db.executemany(
            "INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?)",
            [
                (p.id, p.article_id, p.first_sentence, p.last_sentence, p.start, p.end)
                for p in passages
            ],
        )


def write_vectors(path: Path, ids: list[int], vectors: Vectors, dimension: int) -> None:
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if ids:
        index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
    faiss.write_index(index, str(path))


def versions(index_dir: Path) -> Iterator[Path]:
    """Version folders qa wrote (and nothing else that may live in the folder)."""
    if index_dir.is_dir():
        for path in index_dir.iterdir():
            if path.is_dir() and VERSION_NAME.match(path.name) and (path / MANIFEST).exists():
                yield path


def _read_store(
    path: Path,
) -> tuple[dict[str, Article], dict[int, StoredPassage], dict[int, Span]]:
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
    return articles, passages, sentences


def _reconstruct(index: Any, ids: list[int]) -> Vectors:
    if not ids:
        return np.zeros((0, index.d), dtype=np.float32)
    return np.asarray(index.reconstruct_batch(np.asarray(ids, dtype=np.int64)), dtype=np.float32)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:200]
