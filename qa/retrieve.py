"""Questions in, ranked passages (with per-sentence scores) and answers out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.answer import QuotePolicy, make_result
from qa.config import Settings
from qa.embed import Embedder
from qa.errors import InputError
from qa.index import Index, check_model
from qa.types import Hit, Result

# Overlapping passages merge into one answer, so fetch more than k to still have k.
_FETCH_FACTOR = 3
_FETCH_EXTRA = 10


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
        scores, ids = self.index.search(vectors, k * _FETCH_FACTOR + _FETCH_EXTRA)
        return [
            self._hits(vector, row_scores, row_ids)
            for vector, row_scores, row_ids in zip(vectors, scores, ids, strict=True)
        ]

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

    def _hits(self, vector: np.ndarray, scores: np.ndarray, ids: np.ndarray) -> list[Hit]:
        passages = [self.index.passages[int(i)] for i in ids if i >= 0]
        sentence_ids = [sid for p in passages for sid in p.sentence_ids]
        sims = self.index.sentence_vectors(sentence_ids) @ vector
        hits: list[Hit] = []
        offset = 0
        for passage, score in zip(passages, scores, strict=False):
            n = len(passage.sentence_ids)
            hits.append(
                Hit(
                    passage_id=passage.id,
                    article_id=passage.article_id,
                    score=float(score),
                    sentences=tuple(self.index.sentences[s] for s in passage.sentence_ids),
                    sentence_scores=tuple(float(x) for x in sims[offset : offset + n]),
                )
            )
            offset += n
        return hits
