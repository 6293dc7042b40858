"""What a store holds, behind interfaces a second implementation can fill.

A store keeps four things: the documents (articles, passages, sentences and their
offsets), the passage and sentence vectors, the lexical index over the passages, and
its versions (how a write becomes visible whole, and how a reader learns of it).
A ``Snapshot`` is one readable state of all four; a question is answered from one
snapshot, so it never sees half of a write.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

from qa.encoders.base import Vectors
from qa.store.manifest import Manifest
from qa.types import Article, Filters, Source, Span


class Scored(NamedTuple):
    """A passage (or sentence) id with its score from one search."""

    id: int
    score: float


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


class Documents(Protocol):
    """Articles, passages and sentences with their offsets."""

    @property
    def articles(self) -> Mapping[str, Article]: ...

    def passage(self, passage_id: int) -> StoredPassage: ...

    def passage_ids(self) -> Sequence[int]: ...

    def passages_of(self, article_id: str) -> Sequence[StoredPassage]:
        """The article's passages in reading order."""
        ...

    def sentence(self, sentence_id: int) -> Span: ...

    def sentences_before(self, passage: StoredPassage, n: int) -> tuple[Span, ...]:
        """Up to ``n`` of the article's sentences just before the passage, in order."""
        ...

    def passage_count(self) -> int: ...

    def sentence_count(self) -> int: ...

    def listing(self) -> Sequence[tuple[Source, int]]:
        """Every article's source and passage count, by id, without reading its text."""
        ...


class VectorIndex(Protocol):
    """Unit vectors by id; a search is by inner product (cosine)."""

    @property
    def dimension(self) -> int: ...

    @property
    def size(self) -> int: ...

    def search(self, queries: Vectors, k: int, filters: Filters) -> list[list[Scored]]:
        """The ``k`` best ids per query row that the filters admit, best first."""
        ...

    def vectors(self, ids: Sequence[int]) -> Vectors:
        """The stored vectors of ``ids``, in that order, in one read."""
        ...


class LexicalIndex(Protocol):
    """Word-match scores (BM25) of passages."""

    @property
    def size(self) -> int: ...

    def search(self, questions: Sequence[str], k: int, filters: Filters) -> list[list[Scored]]:
        """The ``k`` best passage ids per question that the filters admit; only scores > 0."""
        ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One readable state of a store; never changes once opened."""

    version: str
    manifest: Manifest
    documents: Documents
    passage_vectors: VectorIndex
    sentence_vectors: VectorIndex
    lexical: LexicalIndex


@dataclass(frozen=True, slots=True)
class NewArticle:
    """An article to store with its passages, sentences and their vectors."""

    article: Article
    passages: tuple[StoredPassage, ...]
    sentences: tuple[tuple[int, Span], ...]  # (sentence id, span), in order
    passage_vectors: Vectors
    sentence_vectors: Vectors


@dataclass(frozen=True, slots=True)
class Changes:
    """One write: what to add or replace, re-describe, and remove, applied whole.

    ``fresh`` starts from an empty store (a rebuild); otherwise what is not named
    here stays as it is, vectors included.
    """

    manifest: Manifest
    upserts: tuple[NewArticle, ...] = ()
    metadata: tuple[Article, ...] = ()  # same text, new metadata: no vectors change
    deletes: tuple[str, ...] = ()  # article ids
    fresh: bool = False
    retrain: bool = False  # remake the search structures (an IVF index's cells) from all


def indexed_text(article: Article, passage: StoredPassage, *, title: bool) -> str:
    """What is embedded and BM25-indexed for a passage: its text, maybe under its title."""
    text = article.text[passage.start : passage.end]
    heading = article.source.title
    return f"{heading}\n{text}" if title and heading else text


class Store(ABC):
    """Where an index lives: it opens snapshots and applies writes one at a time."""

    location: str  # for messages: a folder, a URI

    @abstractmethod
    def open(self) -> Snapshot:
        """The current state; IndexMissingError when nothing was ever written."""

    @abstractmethod
    def current_version(self) -> str | None:
        """A cheap name of the current state, to tell whether to open it again."""

    @abstractmethod
    def write(self, changes: Changes) -> None:
        """Apply ``changes`` whole, or not at all; readers see the old state meanwhile."""

    @abstractmethod
    def write_all(self, manifest: Manifest, batches: Iterable[Sequence[NewArticle]]) -> Manifest:
        """Replace everything with the articles of ``batches``, taken one batch at a time
        (so no more than a batch is in memory), visible only once all are in: a batch
        that raises leaves the state before. The manifest written, with its counts."""

    @abstractmethod
    def writing(self) -> WriteLock:
        """One writer at a time, across processes."""

    def checkpoint_dir(self, cache_dir: Path) -> Path:
        """Where a build keeps its embedded batches until it is published."""
        name = hashlib.sha256(self.location.encode()).hexdigest()[:16]
        return cache_dir / "embedded" / name

    def describe(self, snapshot: Snapshot) -> dict[str, object]:
        """Figures about a snapshot for `qa articles --stats`; stores add their own."""
        m = snapshot.manifest
        return {
            "location": self.location,
            "version": snapshot.version,
            "articles": m.articles,
            "passages": m.passages,
            "sentences": m.sentences,
            "encoder": m.encoder,
            "model": m.model,
            "built_at": m.built_at,
        }

    def last_good(self) -> Snapshot | None:
        """An intact earlier state to answer from while the current one is damaged."""
        return None

    def saved_articles(self) -> dict[str, Article] | None:
        """The damaged current state's articles, where they can still be read whole."""
        return None

    def unreachable(self) -> str | None:
        """Why the store cannot be used right now (a server down), or None; for /health."""
        return None

    def close(self) -> None:  # noqa: B027 (most stores hold no connection)
        """Let go of connections; a store opened again later reconnects."""


class WriteLock(Protocol):
    def __enter__(self) -> None: ...

    def __exit__(self, *exc: object) -> None: ...
