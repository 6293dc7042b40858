"""Questions in, ranked passages (with per-sentence scores) and answers out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.answer import QuotePolicy, make_result
from qa.config import Settings
from qa.embed import Embedder, Vectors
from qa.errors import InputError
from qa.index import Index, check_model
from qa.types import Hit, Result

# Overlapping passages merge into one answer, so fetch more than k to still have k.
_FETCH_FACTOR = 3
_FETCH_EXTRA = 10
_RRF_CONSTANT = 60


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
        )

    def search_batch(self, questions: Sequence[str], k: int) -> list[list[Hit]]:
        """Passages for each question, best first, with each sentence scored too."""
        for question in questions:
            self.check_question(question)
        self.check_k(k)
        if not questions:
            return []
        vectors = self.embedder.encode_queries(list(questions))
        fetch = k * _FETCH_FACTOR + _FETCH_EXTRA
        ranked = self._rank(questions, vectors, fetch)
        return [self._hits(vector, pairs) for vector, pairs in zip(vectors, ranked, strict=True)]

    def search(self, question: str, k: int) -> list[Hit]:
        return self.search_batch([question], k)[0]

    def ask_batch(self, questions: Sequence[str], k: int | None = None) -> list[Result]:
        k = self.settings.k if k is None else k
        return [
            make_result(q, hits, self.index.articles, k=k, policy=self.policy)
            for q, hits in zip(questions, self.search_batch(questions, k), strict=True)
        ]

    def ask(self, question: str, k: int | None = None) -> Result:
        return self.ask_batch([question], k)[0]

    def check_question(self, question: str) -> None:
        if not isinstance(question, str) or not question.strip():
            raise InputError("the question is empty: ask something about the articles")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise InputError(
                f"the question is {len(question)} characters long; "
                f"ask in {limit} characters or fewer"
            )

    def check_k(self, k: int) -> None:
        limit = self.settings.max_k
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
            raise InputError(f"k must be a whole number from 1 to {limit}, not {k!r}")

    def _rank(
        self, questions: Sequence[str], vectors: Vectors, fetch: int
    ) -> list[list[tuple[int, float]]]:
        """(passage id, score) per question, best first, by the configured method."""
        method = self.settings.retriever
        dense = _pairs(*self.index.search(vectors, fetch)) if method != "bm25" else None
        lexical = (
            _pairs(*self.index.lexical.search(questions, fetch)) if method != "dense" else None
        )
        if dense is None:
            return lexical or []
        if lexical is None:
            return dense
        return [
            _reciprocal_rank_fusion([d, lx])[:fetch] for d, lx in zip(dense, lexical, strict=True)
        ]

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
                )
            )
            offset += n
        return hits


def _pairs(scores: np.ndarray, ids: np.ndarray) -> list[list[tuple[int, float]]]:
    return [
        [(int(i), float(s)) for s, i in zip(row_scores, row_ids, strict=True) if i >= 0]
        for row_scores, row_ids in zip(scores, ids, strict=True)
    ]


def _reciprocal_rank_fusion(
    rankings: Sequence[list[tuple[int, float]]], constant: int = _RRF_CONSTANT
) -> list[tuple[int, float]]:
    """Each list votes 1 / (constant + rank) for its passages (Cormack et al., 2009)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (pid, _) in enumerate(ranking, start=1):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (constant + rank)
    return sorted(fused.items(), key=lambda item: item[1], reverse=True)
