"""The store for more than one machine: vectors and BM25 in Milvus, articles in PostgreSQL.

A write, under PostgreSQL's advisory lock (one writer across every process):

1. rows a failed write left behind are deleted, in Milvus first, then in PostgreSQL;
2. the new articles' rows go into PostgreSQL as 'pending' (one transaction);
3. their vectors and texts go into Milvus;
4. one transaction makes them 'live', retires what they replace or remove, and records
   the new version with its manifest;
5. the retired articles' rows are deleted from Milvus, then from PostgreSQL.

Readers see only live rows, so an article is answered from only once its rows and its
vectors are both in; a failure at any step leaves the version before in use, and the
next write (a retry) finishes the cleanup. Milvus answers with ids of the rows it
holds; those the reader's version does not know (being added or removed meanwhile) are
left out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterable, Sequence

from qa.config import Settings
from qa.encoders.base import Vectors
from qa.errors import IndexMissingError, StoreUnavailableError
from qa.store.base import Changes, NewArticle, Scored, Snapshot, Store, WriteLock
from qa.store.manifest import Manifest
from qa.store.remote.documents import MemoryDocuments
from qa.store.remote.milvus import Milvus
from qa.store.remote.postgres import Postgres, database_url
from qa.types import Filters

log = logging.getLogger(__name__)
_SLACK = 16  # extra hits asked of Milvus for those the reader's version does not know


class RemoteStore(Store):
    """One Milvus server (two collections) and one PostgreSQL database."""

    def __init__(self, settings: Settings) -> None:
        url = database_url(settings)
        token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
        self.milvus = Milvus(
            settings.milvus_uri, token, settings.milvus_collection_prefix, settings.store_timeout
        )
        self.postgres = Postgres(url, settings.store_timeout)
        self.location = (
            f"Milvus at {settings.milvus_uri} ({settings.milvus_collection_prefix}_*) and "
            f"PostgreSQL at {self.postgres.where}"
        )
        self.lock_timeout = settings.lock_timeout
        self._last: Snapshot | None = None

    def close(self) -> None:
        self.milvus.close()
        self.postgres.close()

    def unreachable(self) -> str | None:
        return self.postgres.reachable() or self.milvus.reachable()

    def current_version(self) -> str | None:
        number = self.postgres.current()
        return None if number is None else f"v{number}"

    def open(self) -> Snapshot:
        """The newest version: its documents read whole, its vectors searched in Milvus."""
        last = self._last
        if last is not None and last.version == self.current_version():
            return last
        rows = self.postgres.read()
        if rows is None:
            raise IndexMissingError(
                f"no index in {self.location}: run `qa index` to build it from the seed "
                "articles (or `qa index PATH`, or `qa import FILE`)"
            )
        docs = MemoryDocuments(rows.articles, rows.passages, rows.sentences)
        known = frozenset(rows.passages)
        dimension = rows.manifest.dimension
        milvus = self.milvus
        snapshot = Snapshot(
            f"v{rows.version}",
            rows.manifest,
            docs,
            MilvusPassages(milvus, known, dimension),
            MilvusVectors(milvus, milvus.sentences, len(rows.sentences), dimension),
            MilvusBm25(milvus, known),
        )
        self._last = snapshot
        return snapshot

    def writing(self) -> WriteLock:
        return self.postgres.writer(self.lock_timeout)  # type: ignore[return-value]

    def write(self, changes: Changes) -> None:
        self._remove_leftovers()
        self.milvus.prepare(changes.manifest.dimension, fresh=changes.fresh)
        staged = self.postgres.stage(changes.upserts)
        self.milvus.insert(changes.upserts, staged, title=changes.manifest.passage_title())
        if changes.metadata:
            uids = self.postgres.live_uids([a.id for a in changes.metadata])
            self.milvus.relabel(changes.metadata, uids)
        self._publish(changes, staged)

    def write_all(self, manifest: Manifest, batches: Iterable[Sequence[NewArticle]]) -> Manifest:
        """Each batch's rows go in as pending, then its vectors; one transaction at the
        end makes them all live. A batch that fails takes the pending rows out again (or
        the next write does, if a server is down)."""
        self._remove_leftovers()
        self.milvus.prepare(manifest.dimension, fresh=True)
        # The rows in place stay until the new ones are live: the new ids go past theirs.
        shift = self.postgres.next_free_id()
        manifest = dataclasses.replace(manifest, next_id=manifest.next_id + shift)
        staged: list[int] = []
        try:
            for batch in batches:
                batch = [_shifted(new, shift) for new in batch] if shift else batch
                uids = self.postgres.stage(batch)
                staged.extend(uids)
                self.milvus.insert(batch, uids, title=manifest.passage_title())
        except BaseException:
            with contextlib.suppress(StoreUnavailableError):
                self._remove_leftovers()
            raise
        return self._publish(Changes(manifest, fresh=True), staged)

    def _publish(self, changes: Changes, staged: Sequence[int]) -> Manifest:
        version, manifest, retired = self.postgres.publish(changes, staged)
        log.info("store version v%d written: %d articles retired", version, len(retired))
        try:
            self.milvus.delete(retired)
            self.postgres.forget(retired)
        except StoreUnavailableError as exc:  # written whole; the next write tidies up
            log.warning("the replaced rows stay until the next write: %s", exc)
        return manifest

    def _remove_leftovers(self) -> None:
        """What a write that failed halfway left: pending and retired articles' rows."""
        leftovers = self.postgres.leftovers()
        if leftovers:
            log.info("removing %d articles' rows a failed write left behind", len(leftovers))
            self.milvus.delete(leftovers)
            self.postgres.forget(leftovers)


def _shifted(new: NewArticle, by: int) -> NewArticle:
    """The article with its passage and sentence ids ``by`` higher."""
    passages = tuple(
        dataclasses.replace(
            p,
            id=p.id + by,
            first_sentence=p.first_sentence + by,
            last_sentence=p.last_sentence + by,
        )
        for p in new.passages
    )
    sentences = tuple((i + by, span) for i, span in new.sentences)
    return dataclasses.replace(new, passages=passages, sentences=sentences)


class MilvusVectors:
    """Vectors of one collection, read by id (qa scores a passage's sentences with
    them, never searches them)."""

    def __init__(self, milvus: Milvus, collection: str, size: int, dimension: int) -> None:
        self._milvus = milvus
        self._collection = collection
        self._size = size
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def size(self) -> int:
        return self._size

    def search(self, queries: Vectors, k: int, filters: Filters) -> list[list[Scored]]:
        raise NotImplementedError("these vectors are read by id, not searched")

    def vectors(self, ids: Sequence[int]) -> Vectors:
        return self._milvus.vectors(self._collection, ids, self._dimension)


class MilvusPassages(MilvusVectors):
    """The passage vectors a snapshot knows, searched in Milvus with the filters."""

    def __init__(self, milvus: Milvus, known: frozenset[int], dimension: int) -> None:
        super().__init__(milvus, milvus.passages, len(known), dimension)
        self._known = known

    def search(self, queries: Vectors, k: int, filters: Filters) -> list[list[Scored]]:
        if not self._known:
            return [[] for _ in range(len(queries))]
        found = self._milvus.search_dense(queries, k + _SLACK, filters)
        return [[s for s in row if s.id in self._known][:k] for row in found]


class MilvusBm25:
    """BM25 as Milvus computes it from the passage texts (its own statistics)."""

    def __init__(self, milvus: Milvus, known: frozenset[int]) -> None:
        self._milvus = milvus
        self._known = known

    @property
    def size(self) -> int:
        return len(self._known)

    def search(self, questions: Sequence[str], k: int, filters: Filters) -> list[list[Scored]]:
        if not self._known or not questions:
            return [[] for _ in questions]
        found = self._milvus.search_bm25(questions, k + _SLACK, filters)
        return [[s for s in row if s.id in self._known and s.score > 0][:k] for row in found]
