"""Passage and sentence vectors in Milvus, and BM25 computed by Milvus from the text.

Two collections, ``<prefix>_passages`` (the text, its dense vector, a sparse BM25 field
that Milvus's own BM25 function fills from the text, and the fields filters run on,
each with an INVERTED index) and ``<prefix>_sentences`` (their vectors). Every row
names the PostgreSQL row of its article (``article_uid``), so the rows of an article
replaced or removed are deleted by article. Reads are at Bounded consistency, except
that a process sees its own writes at once (Session).

Milvus Lite, which the tests run, differs from Milvus; what is handled here:
its BM25 scores come out negative (their magnitude is used), a collection is
'released' after the server restarts (it is loaded again), a filtered HNSW search
needs an ``ef`` of at least twice its limit, and its server drops idle connections
that ping often (pings only while calls are in flight).
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from qa.encoders.base import Vectors
from qa.errors import IndexCorruptError, StoreUnavailableError
from qa.store.base import NewArticle, Scored, indexed_text
from qa.types import Article, Filters, published_span

T = TypeVar("T")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TEXT_BYTES = 60_000  # a VARCHAR holds 65,535 bytes; passages are ~1,000 characters
_NAME_CHARS = 1000
_BATCH = 1000  # rows per insert, ids per query
_SESSION_SECONDS = 30.0  # after its own write, a process reads at Session consistency
# The BM25 parameters of the local store (bm25s's defaults), and its words: lowercased,
# English stopwords out, Snowball-stemmed.
_BM25 = {"bm25_k1": 1.5, "bm25_b": 0.75}
ANALYZER: dict[str, Any] = {
    "tokenizer": "standard",
    "filter": [
        "lowercase",
        {"type": "stop", "stop_words": sorted(STOPWORDS_EN)},
        {"type": "stemmer", "language": "english"},
    ],
}
# Pings only while calls are in flight: an idle client that pings is cut off by servers
# that allow few pings (Milvus Lite's gRPC server among them).
_GRPC = {"grpc.keepalive_time_ms": 60_000, "grpc.keepalive_permit_without_calls": 0}


def _calls(func: Callable[..., T]) -> Callable[..., T]:
    """A Milvus call: a collection released by a restart is loaded and the call tried
    again; the server's failures become StoreUnavailableError."""

    @functools.wraps(func)
    def wrapper(self: Milvus, *args: Any, **kwargs: Any) -> T:
        for attempt in (1, 2):
            try:
                return func(self, *args, **kwargs)
            except _failures() as exc:
                if attempt == 1 and "released" in str(exc).lower():
                    self._load()
                    continue
                raise self.unavailable(exc) from exc
        raise AssertionError("unreachable")

    return wrapper


def _failures() -> tuple[type[BaseException], ...]:
    """What pymilvus raises when the server fails: its own exceptions, and (from some
    calls, such as a delete past its deadline) gRPC's."""
    import grpc
    from pymilvus.exceptions import MilvusException

    return (MilvusException, grpc.RpcError)


class Milvus:
    """qa's two collections on one Milvus server."""

    def __init__(self, uri: str, token: str, prefix: str, timeout: float) -> None:
        self.uri = uri
        self.passages = f"{prefix}_passages"
        self.sentences = f"{prefix}_sentences"
        self.timeout = timeout
        self._token = token
        self._client: Any = None
        self._lock = threading.Lock()
        self._wrote_at = -_SESSION_SECONDS

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from pymilvus import MilvusClient

                self._client = MilvusClient(
                    uri=self.uri,
                    token=self._token,
                    timeout=self.timeout,
                    grpc_options=_GRPC,
                    dedicated=True,
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def unavailable(self, exc: BaseException) -> StoreUnavailableError:
        message = getattr(exc, "message", None) or str(exc)
        return StoreUnavailableError(
            f"Milvus at {self.uri} cannot be used ({' '.join(str(message).split())[:200]}); "
            "start it or fix QA_MILVUS_URI / QA_MILVUS_TOKEN"
        )

    def reachable(self) -> str | None:
        try:
            self.client.list_collections(timeout=self.timeout)
        except _failures() as exc:
            return str(self.unavailable(exc))
        return None

    def _level(self) -> str:
        recent = time.monotonic() - self._wrote_at < _SESSION_SECONDS
        return "Session" if recent else "Bounded"

    def _load(self) -> None:
        for name in (self.passages, self.sentences):
            if self.client.has_collection(name, timeout=self.timeout):
                self.client.load_collection(name, timeout=max(self.timeout, 30.0))

    # -- writing ------------------------------------------------------------------

    @_calls
    def prepare(self, dimension: int, *, fresh: bool) -> None:
        """Create the collections if missing; a rebuild with another dimension replaces them."""
        client = self.client
        for name in (self.passages, self.sentences):
            if client.has_collection(name, timeout=self.timeout):
                have = _dimension(client.describe_collection(name, timeout=self.timeout))
                if have == dimension:
                    continue
                if not fresh:
                    raise IndexCorruptError(
                        f"the Milvus collection {name} holds {have}-dimensional vectors, "
                        f"these are {dimension}-dimensional; run `qa index` to rebuild"
                    )
                client.drop_collection(name, timeout=self.timeout)
            schema, indexes = (
                self._passage_schema(dimension)
                if name == self.passages
                else self._sentence_schema(dimension)
            )
            slow = max(self.timeout, 30.0)
            client.create_collection(name, schema=schema, consistency_level="Bounded", timeout=slow)
            # An empty collection's indexes are built at once; pymilvus would poll each
            # index's state every half second.
            client.create_index(name, indexes, timeout=slow, sync=False)
            client.load_collection(name, timeout=slow)

    def _passage_schema(self, dimension: int) -> tuple[Any, Any]:
        from pymilvus import DataType, Function, FunctionType

        client = self.client
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("article_uid", DataType.INT64)
        schema.add_field("article_id", DataType.VARCHAR, max_length=4 * _NAME_CHARS)
        schema.add_field("outlet", DataType.VARCHAR, max_length=4 * _NAME_CHARS)
        schema.add_field("day_first", DataType.INT32)  # YYYYMMDD; 0: no known date
        schema.add_field("day_last", DataType.INT32)
        schema.add_field("start", DataType.INT32)
        schema.add_field("end", DataType.INT32)
        schema.add_field(
            "text",
            DataType.VARCHAR,
            max_length=65_535,
            enable_analyzer=True,
            analyzer_params=ANALYZER,
        )
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["text"],
                output_field_names=["sparse"],
            )
        )
        indexes = client.prepare_index_params()
        _hnsw(indexes)
        indexes.add_index(
            "sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=_BM25
        )
        for field in ("article_uid", "outlet", "day_first", "day_last"):
            indexes.add_index(field, index_type="INVERTED")
        return schema, indexes

    def _sentence_schema(self, dimension: int) -> tuple[Any, Any]:
        from pymilvus import DataType

        client = self.client
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("article_uid", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        indexes = client.prepare_index_params()
        _hnsw(indexes)
        indexes.add_index("article_uid", index_type="INVERTED")
        return schema, indexes

    @_calls
    def insert(self, upserts: Sequence[NewArticle], uids: Sequence[int], *, title: bool) -> None:
        passages: list[dict[str, Any]] = []
        sentences: list[dict[str, Any]] = []
        for new, uid in zip(upserts, uids, strict=True):
            fields = _filter_fields(new.article)
            for passage, vector in zip(new.passages, new.passage_vectors, strict=True):
                passages.append(
                    {
                        "id": passage.id,
                        "article_uid": uid,
                        "article_id": new.article.id[:_NAME_CHARS],
                        **fields,
                        "start": passage.start,
                        "end": passage.end,
                        "text": _clip(indexed_text(new.article, passage, title=title)),
                        "vector": vector.tolist(),
                    }
                )
            for (sid, _), vector in zip(new.sentences, new.sentence_vectors, strict=True):
                sentences.append({"id": sid, "article_uid": uid, "vector": vector.tolist()})
        for name, rows in ((self.passages, passages), (self.sentences, sentences)):
            for at in range(0, len(rows), _BATCH):
                self.client.insert(name, rows[at : at + _BATCH], timeout=self.timeout)
        self._wrote_at = time.monotonic()

    @_calls
    def relabel(self, articles: Sequence[Article], uids: dict[str, int]) -> None:
        """New outlet and dates on an article's passages (its vectors stay as they are)."""
        for article in articles:
            uid = uids.get(article.id)
            if uid is None:
                continue
            rows = self.client.query(
                self.passages,
                filter=f"article_uid == {uid}",
                output_fields=["*"],
                consistency_level="Strong",
                timeout=self.timeout,
            )
            fields = _filter_fields(article)
            changed = [
                {k: v for k, v in {**row, **fields}.items() if k != "sparse"}
                for row in rows
                if any(row.get(k) != v for k, v in fields.items())
            ]
            for at in range(0, len(changed), _BATCH):
                self.client.upsert(self.passages, changed[at : at + _BATCH], timeout=self.timeout)
        self._wrote_at = time.monotonic()

    @_calls
    def delete(self, uids: Sequence[int]) -> None:
        """Every row of these articles (by their PostgreSQL rows)."""
        if not uids:
            return
        slow = max(self.timeout, 30.0)
        for name in (self.passages, self.sentences):
            if self.client.has_collection(name, timeout=self.timeout):
                for at in range(0, len(uids), _BATCH):
                    chunk = [int(u) for u in uids[at : at + _BATCH]]
                    # Finding the rows may take longer than a question may wait; no
                    # question waits for it.
                    self.client.delete(name, filter=f"article_uid in {chunk}", timeout=slow)
        self._wrote_at = time.monotonic()

    # -- reading ------------------------------------------------------------------

    @_calls
    def search_dense(self, queries: Vectors, limit: int, filters: Filters) -> list[list[Scored]]:
        found = self.client.search(
            self.passages,
            data=[row.tolist() for row in queries],
            anns_field="vector",
            limit=limit,
            filter=expression(filters),
            # Milvus Lite returns too few hits of a filtered search below ef = 2 x limit.
            search_params={"metric_type": "IP", "params": {"ef": max(2 * limit, 128)}},
            output_fields=["id"],
            consistency_level=self._level(),
            timeout=self.timeout,
        )
        return [[Scored(int(h["id"]), float(h["distance"])) for h in row] for row in found]

    @_calls
    def search_bm25(
        self, questions: Sequence[str], limit: int, filters: Filters
    ) -> list[list[Scored]]:
        found = self.client.search(
            self.passages,
            data=[_clip(q) for q in questions],
            anns_field="sparse",
            limit=limit,
            filter=expression(filters),
            search_params={"metric_type": "BM25", "params": {"drop_ratio_search": 0.0}},
            output_fields=["id"],
            consistency_level=self._level(),
            timeout=self.timeout,
        )
        # Milvus Lite's BM25 scores are negative; Milvus's are positive.
        return [[Scored(int(h["id"]), abs(float(h["distance"]))) for h in row] for row in found]

    @_calls
    def vectors(self, collection: str, ids: Sequence[int], dimension: int) -> Vectors:
        """Stored vectors of ``ids``, in order; a row not seen yet at Bounded consistency
        (written by another process a moment ago) is read again at Strong."""
        out = np.zeros((len(ids), dimension), dtype=np.float32)
        if not len(ids):
            return out
        rows: dict[int, list[float]] = {}
        wanted = [int(i) for i in dict.fromkeys(ids)]
        for level in (self._level(), "Strong"):
            missing = [i for i in wanted if i not in rows]
            if not missing:
                break
            for at in range(0, len(missing), _BATCH):
                chunk = missing[at : at + _BATCH]
                for row in self.client.query(
                    collection,
                    filter=f"id in {chunk}",
                    output_fields=["id", "vector"],
                    consistency_level=level,
                    timeout=self.timeout,
                ):
                    rows[int(row["id"])] = row["vector"]
        missing = [i for i in wanted if i not in rows]
        if missing:
            raise StoreUnavailableError(
                f"Milvus at {self.uri} has no vectors for {len(missing)} of the rows asked "
                f"(e.g. id {missing[0]}) of {collection}: the store changed meanwhile or "
                "is damaged; ask again, and if it persists run `qa index`"
            )
        for n, i in enumerate(ids):
            out[n] = rows[int(i)]
        return out


def expression(filters: Filters) -> str:
    """A filter as a Milvus boolean expression over the passage fields; "" admits all."""
    parts = []
    if filters.outlets:
        names = sorted({o.casefold()[:_NAME_CHARS] for o in filters.outlets})
        parts.append(f"outlet in {json.dumps(names, ensure_ascii=False)}")
    if filters.published_from or filters.published_to:
        parts.append("day_first > 0")  # no known date: left out once a bound is set
    if filters.published_from:
        parts.append(f"day_last >= {_day(filters.published_from)}")
    if filters.published_to:
        parts.append(f"day_first <= {_day(filters.published_to)}")
    return " and ".join(parts)


def _filter_fields(article: Article) -> dict[str, Any]:
    span = published_span(article.source.published)
    first, last = (0, 0) if span is None else (_day(span[0]), _day(span[1]))
    outlet = (article.source.outlet or "").casefold()[:_NAME_CHARS]
    return {"outlet": outlet, "day_first": first, "day_last": last}


def _day(iso: str) -> int:
    """YYYYMMDD as a number; 0 for what is not a date (such an article has no known date)."""
    return int(iso.replace("-", "")) if _DAY.match(iso) else 0


def _clip(text: str) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= _TEXT_BYTES else data[:_TEXT_BYTES].decode("utf-8", "ignore")


def _hnsw(indexes: Any) -> None:
    indexes.add_index(
        "vector", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 200}
    )


def _dimension(description: dict[str, Any]) -> int | None:
    for field in description.get("fields", []):
        if field.get("name") == "vector":
            return int(field.get("params", {}).get("dim", 0))
    return None
