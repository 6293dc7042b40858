"""Questions in, ranked passages (with per-sentence scores) and answers out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.answer import LEAD_IN, QuotePolicy, make_result
from qa.config import Settings
from qa.embed import Embedder, Vectors
from qa.errors import InputError
from qa.fusion import Weights, fuse
from qa.index import Index, check_model
from qa.types import Filters, Hit, Result

# Overlapping passages merge into one answer, so fetch more than k to still have k.
_FETCH_FACTOR = 3
_FETCH_EXTRA = 10
# Hybrid search fuses this many candidates from each list at least: enough for the
# normalisation to see the spread of scores, which is what the weights were chosen with.
_FUSION_POOL = 100


@dataclass(frozen=True, slots=True)
class Query:
    """One question as asked: how many answers, from which articles."""

    question: str
    k: int
    filters: Filters = field(default_factory=Filters)


def make_filters(
    outlets: Iterable[str] = (),
    published_from: str | dt.date | None = None,
    published_to: str | dt.date | None = None,
) -> Filters:
    """Filters from user input; InputError says which value is wrong."""
    names = tuple(o.strip() for o in outlets if o and o.strip())
    bounds = [_day(published_from, "published_from"), _day(published_to, "published_to")]
    if bounds[0] and bounds[1] and bounds[0] > bounds[1]:
        raise InputError(
            f"published_from ({bounds[0]}) is after published_to ({bounds[1]}); swap them"
        )
    return Filters(names, *bounds)


def _day(value: str | dt.date | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise InputError(f"{name} {value!r} is not a date; write it as YYYY-MM-DD") from None


def check_question(question: str, settings: Settings) -> None:
    """Raise InputError for a question that cannot be asked, saying how to fix it."""
    if not isinstance(question, str) or not question.strip():
        raise InputError("the question is empty: ask something about the articles")
    limit = settings.max_question_chars
    if len(question) > limit:
        raise InputError(
            f"the question is {len(question)} characters long; ask in {limit} characters or fewer"
        )


def check_k(k: int, settings: Settings) -> None:
    limit = settings.max_k
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
        raise InputError(f"k must be a whole number from 1 to {limit}, not {k!r}")


class Retriever:
    """Searches one loaded index with one model; batch methods are the real ones."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings) -> None:
        check_model(index.manifest, index.path.parent, embedder.name, embedder.dimension)
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.policy = QuotePolicy(
            min_score=settings.min_score,
            max_sentences=settings.quote_max_sentences,
            margin=settings.quote_margin,
            corroborate=settings.corroborate_min,
            per_article=settings.max_per_article,
        )
        self.weights = Weights(settings.hybrid_dense_weight, settings.hybrid_sentence_weight)

    def search_batch(
        self, questions: Sequence[str], k: int, filters: Filters | None = None
    ) -> list[list[Hit]]:
        """Passages for each question, best first, with each sentence scored too."""
        for question in questions:
            self.check_question(question)
        self.check_k(k)
        if not questions:
            return []
        vectors = self.embedder.encode_queries(list(questions))
        return self._search(questions, vectors, k, filters or Filters())

    def search(self, question: str, k: int, filters: Filters | None = None) -> list[Hit]:
        return self.search_batch([question], k, filters)[0]

    def answer_batch(self, queries: Sequence[Query]) -> list[Result]:
        """Results for questions that may each want their own k and filters.

        The questions are embedded in one model call, which is what makes batching
        concurrent requests worth it.
        """
        for query in queries:
            self.check_question(query.question)
            self.check_k(query.k)
        if not queries:
            return []
        vectors = self.embedder.encode_queries([q.question for q in queries])
        groups: dict[tuple[int, Filters], list[int]] = {}
        for row, query in enumerate(queries):
            groups.setdefault((query.k, query.filters), []).append(row)
        results: dict[int, Result] = {}
        for (k, filters), rows in groups.items():
            questions = [queries[row].question for row in rows]
            found = self._search(questions, vectors[rows], k, filters)
            for row, question, hits in zip(rows, questions, found, strict=True):
                results[row] = make_result(
                    question,
                    hits,
                    self.index.articles,
                    k=k,
                    policy=self.policy,
                    vectors=self.index.sentence_vectors,
                )
        return [results[row] for row in range(len(queries))]

    def ask_batch(
        self, questions: Sequence[str], k: int | None = None, filters: Filters | None = None
    ) -> list[Result]:
        k = self.settings.k if k is None else k
        return self.answer_batch([Query(q, k, filters or Filters()) for q in questions])

    def ask(self, question: str, k: int | None = None, filters: Filters | None = None) -> Result:
        return self.ask_batch([question], k, filters)[0]

    def check_question(self, question: str) -> None:
        check_question(question, self.settings)

    def check_k(self, k: int) -> None:
        check_k(k, self.settings)

    def _search(
        self, questions: Sequence[str], vectors: Vectors, k: int, filters: Filters
    ) -> list[list[Hit]]:
        fetch = k * _FETCH_FACTOR + _FETCH_EXTRA
        allowed = self._allowed(filters)
        if allowed is not None and not len(allowed):
            return [[] for _ in questions]
        ranked = self._rank(questions, vectors, fetch, allowed)
        return [self._hits(vector, pairs) for vector, pairs in zip(vectors, ranked, strict=True)]

    def _allowed(self, filters: Filters) -> np.ndarray | None:
        """Passage ids the filters admit; None when nothing is filtered."""
        if not filters:
            return None
        articles = [a.id for a in self.index.articles.values() if filters.admits(a.source)]
        return self.index.passage_ids(articles)

    def _rank(
        self,
        questions: Sequence[str],
        vectors: Vectors,
        fetch: int,
        allowed: np.ndarray | None,
    ) -> list[list[tuple[int, float]]]:
        """(passage id, score) per question, best first, by the configured method."""
        method = self.settings.retriever
        pool = fetch if method != "hybrid" else max(fetch, _FUSION_POOL)
        dense = _pairs(*self.index.search(vectors, pool, allowed)) if method != "bm25" else None
        lexical = (
            _pairs(*self.index.lexical.search(questions, pool, allowed))
            if method != "dense"
            else None
        )
        if dense is None:
            return lexical or []
        if lexical is None:
            return dense
        return [
            self._fuse(vector, d, lx)[:fetch]
            for vector, d, lx in zip(vectors, dense, lexical, strict=True)
        ]

    def _fuse(
        self, vector: np.ndarray, dense: list[tuple[int, float]], lexical: list[tuple[int, float]]
    ) -> list[tuple[int, float]]:
        candidates = list(dict.fromkeys([pid for pid, _ in dense] + [pid for pid, _ in lexical]))
        bm25 = dict(lexical)
        passages = [self.index.passages[pid] for pid in candidates]
        sentence_ids = [sid for p in passages for sid in p.sentence_ids]
        sentence_cosine = self.index.sentence_vectors(sentence_ids) @ vector
        starts = np.cumsum([0] + [len(p.sentence_ids) for p in passages[:-1]])
        best = np.maximum.reduceat(sentence_cosine, starts) if passages else np.zeros(0, np.float32)
        return fuse(
            candidates,
            self.index.passage_vectors(candidates) @ vector,
            best,
            np.array([bm25.get(pid, 0.0) for pid in candidates], dtype=np.float32),
            self.weights,
        )

    def _hits(self, vector: np.ndarray, ranked: list[tuple[int, float]]) -> list[Hit]:
        passages = [self.index.passages[pid] for pid, _ in ranked]
        similarities = self.index.passage_vectors([p.id for p in passages]) @ vector
        sentence_ids = [sid for p in passages for sid in p.sentence_ids]
        sims = self.index.sentence_vectors(sentence_ids) @ vector
        hits: list[Hit] = []
        offset = 0
        for passage, (_, score), similarity in zip(passages, ranked, similarities, strict=True):
            n = len(passage.sentence_ids)
            hits.append(
                Hit(
                    passage_id=passage.id,
                    article_id=passage.article_id,
                    score=float(score),
                    sentences=tuple(self.index.sentences[s] for s in passage.sentence_ids),
                    sentence_scores=tuple(float(x) for x in sims[offset : offset + n]),
                    similarity=float(similarity),
                    sentence_ids=tuple(passage.sentence_ids),
                    lead_in=self.index.sentences_before(passage, LEAD_IN),
                )
            )
            offset += n
        return hits


def _pairs(scores: np.ndarray, ids: np.ndarray) -> list[list[tuple[int, float]]]:
    return [
        [(int(i), float(s)) for s, i in zip(row_scores, row_ids, strict=True) if i >= 0]
        for row_scores, row_ids in zip(scores, ids, strict=True)
    ]
