"""One version's documents as read from PostgreSQL, held in memory for its questions.

Every lookup a question makes (a passage, its sentences, its article) is then a
dictionary read, not a round trip; the cost is memory per server process (see
docs/scaling.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qa.store.base import StoredPassage
from qa.types import Article, Source, Span


class MemoryDocuments:
    """Articles, passages and sentences of one version."""

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

    @property
    def articles(self) -> Mapping[str, Article]:
        return self._articles

    def passage(self, passage_id: int) -> StoredPassage:
        return self._passages[passage_id]

    def passage_ids(self) -> list[int]:
        return list(self._passages)

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

    def listing(self) -> list[tuple[Source, int]]:
        ids = sorted(self._articles)
        return [(self._articles[a].source, len(self._by_article[a])) for a in ids]
