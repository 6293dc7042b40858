"""Questions in, ranked passages (with per-sentence scores) and answers out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from qa.answer import LEAD_IN, QuotePolicy, make_result
from qa.config import Settings
from qa.encoders import Encoder
from qa.errors import InputError
from qa.evidence import Evidence
from qa.questions import check_k, check_question
from qa.rankers import Ranker, make_ranker
from qa.sentence_scores import passage_sentence_scores
from qa.store import Scored, Snapshot, check_encoder
from qa.types import Filters, Hit, Result

# Overlapping passages merge into one answer, so fetch more than k to still have k.
_FETCH_FACTOR = 3
_FETCH_EXTRA = 10


@dataclass(frozen=True, slots=True)
class Query:
    """One question as asked: how many answers, from which articles."""

    question: str
    k: int
    filters: Filters = field(default_factory=Filters)


def fetch_for(k: int) -> int:
    """Passages fetched for ``k`` answers: overlapping ones merge into one answer."""
    return k * _FETCH_FACTOR + _FETCH_EXTRA


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


@dataclass(frozen=True, slots=True)
class Answered:
    """A question's ranked passages (before folding) and the answers made from them."""

    query: Query
    hits: list[Hit]
    result: Result
    evidence: Evidence  # the question's cosines and the vectors read for it


class Retriever:
    """Answers from one snapshot with one encoder; batch methods are the real ones."""

    def __init__(
        self,
        snapshot: Snapshot,
        encoder: Encoder,
        settings: Settings,
        ranker: Ranker | None = None,
        location: str | None = None,
    ) -> None:
        where = location or str(settings.index_dir)
        check_encoder(snapshot.manifest, where, encoder.backend, encoder.name, encoder.dimension)
        self.snapshot = snapshot
        self.encoder = encoder
        self.settings = settings
        self.ranker = ranker or make_ranker(settings, snapshot)
        self.policy = QuotePolicy(
            min_score=settings.min_score,
            max_sentences=settings.quote_max_sentences,
            margin=settings.quote_margin,
            corroborate=settings.corroborate_min,
            per_article=settings.max_per_article,
        )

    def run_batch(self, queries: Sequence[Query]) -> list[Answered]:
        """Hits and answers for questions that may each want their own k and filters.

        The questions are embedded in one model call, which is what makes batching
        concurrent requests worth it. The queries are checked already (qa.questions).
        """
        if not queries:
            return []
        vectors = self.encoder.encode_queries([q.question for q in queries])
        evidence = [Evidence(self.snapshot, vector) for vector in vectors]
        groups: dict[tuple[int, Filters], list[int]] = {}
        for row, query in enumerate(queries):
            groups.setdefault((query.k, query.filters), []).append(row)
        out: dict[int, Answered] = {}
        for (k, filters), rows in groups.items():
            questions = [queries[row].question for row in rows]
            known = [evidence[row] for row in rows]
            ranked = self.ranker.rank(questions, known, fetch_for(k), filters)
            for row, facts, found in zip(rows, known, ranked, strict=True):
                hits = self._hits(queries[row].question, facts, found)
                result = self._result(queries[row].question, hits, k, facts)
                out[row] = Answered(queries[row], hits, result, facts)
        return [out[row] for row in range(len(queries))]

    def answer(self, answered: Answered, k: int) -> Result:
        """The answers a question asked with ``k`` gets, from hits fetched for a larger k."""
        hits = answered.hits[: fetch_for(k)]
        return self._result(answered.query.question, hits, k, answered.evidence)

    def _result(self, question: str, hits: list[Hit], k: int, evidence: Evidence) -> Result:
        articles = self.snapshot.documents.articles
        return make_result(
            question, hits, articles, k=k, policy=self.policy, vectors=evidence.sentence_vectors
        )

    def answer_batch(self, queries: Sequence[Query]) -> list[Result]:
        return [answered.result for answered in self.run_batch(queries)]

    def search_batch(
        self, questions: Sequence[str], k: int, filters: Filters | None = None
    ) -> list[list[Hit]]:
        """Passages for each question, best first, with each sentence scored too (more
        than ``k``: overlapping ones merge into one answer)."""
        queries = [Query(q, k, filters or Filters()) for q in questions]
        return [answered.hits for answered in self.run_batch(queries)]

    def search(self, question: str, k: int, filters: Filters | None = None) -> list[Hit]:
        return self.search_batch([question], k, filters)[0]

    def ask_batch(
        self, questions: Sequence[str], k: int | None = None, filters: Filters | None = None
    ) -> list[Result]:
        k = self.settings.k if k is None else k
        check_k(k, self.settings)
        for question in questions:
            check_question(question, self.settings)
        return self.answer_batch([Query(q, k, filters or Filters()) for q in questions])

    def ask(self, question: str, k: int | None = None, filters: Filters | None = None) -> Result:
        return self.ask_batch([question], k, filters)[0]

    def _hits(self, question: str, evidence: Evidence, ranked: list[Scored]) -> list[Hit]:
        docs = self.snapshot.documents
        passages = [docs.passage(found.id) for found in ranked]
        similarities = evidence.passage_cosines([p.id for p in passages])
        ids = [s for p in passages for s in p.sentence_ids]
        texts = [
            docs.articles[p.article_id].text[span.start : span.end]
            for p in passages
            for span in (docs.sentence(s) for s in p.sentence_ids)
        ]
        sims = passage_sentence_scores(
            question,
            ids,
            texts,
            evidence.sentence_cosines(passages),
            [len(p.sentence_ids) for p in passages],
        )
        hits: list[Hit] = []
        offset = 0
        for passage, found, similarity in zip(passages, ranked, similarities, strict=True):
            n = len(passage.sentence_ids)
            hits.append(
                Hit(
                    passage_id=passage.id,
                    article_id=passage.article_id,
                    score=found.score,
                    sentences=tuple(docs.sentence(s) for s in passage.sentence_ids),
                    sentence_scores=tuple(float(x) for x in sims[offset : offset + n]),
                    similarity=float(similarity),
                    sentence_ids=tuple(passage.sentence_ids),
                    lead_in=docs.sentences_before(passage, LEAD_IN),
                )
            )
            offset += n
        return hits
