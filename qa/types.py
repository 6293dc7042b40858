"""Typed records passed between the corpus, the index and the answers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Source:
    """Where a quote stands: enough for a reader to find and check it."""

    article_id: str
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    published: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """An article after cleaning; every offset in qa points into ``text``."""

    source: Source
    text: str
    origin: str | None = None  # the file (and line) it was loaded from

    @property
    def id(self) -> str:
        return self.source.article_id

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open character range ``[start, end)`` in an article's text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Passage:
    """A few consecutive sentences of one paragraph, the unit that is embedded."""

    start: int
    end: int
    first_sentence: int  # index into the article's sentence list
    last_sentence: int  # inclusive


@dataclass(frozen=True, slots=True)
class Chunks:
    """An article split for indexing."""

    article: Article
    sentences: tuple[Span, ...]
    passages: tuple[Passage, ...]


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage found for a question, with how well each of its sentences matches."""

    passage_id: int
    article_id: str
    score: float  # what the retriever ranked by
    sentences: tuple[Span, ...]
    sentence_scores: tuple[float, ...]
    similarity: float  # cosine of question and passage: how well it matches, for abstaining
    sentence_ids: tuple[int, ...] = ()  # the index's ids of ``sentences``, when known
    # The article's sentences just before these, for a quote that refers back to them.
    lead_in: tuple[Span, ...] = ()

    @property
    def start(self) -> int:
        return self.sentences[0].start

    @property
    def end(self) -> int:
        return self.sentences[-1].end


@dataclass(frozen=True, slots=True)
class Filters:
    """Which articles a question is asked of; empty fields do not filter.

    Dates are ISO ``YYYY-MM-DD`` and inclusive; an article with no known date is left
    out once either bound is set, since it cannot be shown to fall inside the range.
    Callers build it with ``qa.retrieve.make_filters``, which checks the values.
    """

    outlets: tuple[str, ...] = ()
    published_from: str | None = None
    published_to: str | None = None

    def __bool__(self) -> bool:
        return bool(self.outlets or self.published_from or self.published_to)

    def admits(self, source: Source) -> bool:
        if self.outlets and (source.outlet or "").casefold() not in {
            o.casefold() for o in self.outlets
        }:
            return False
        if self.published_from or self.published_to:
            span = published_span(source.published)
            if span is None:
                return False
            first, last = span
            if self.published_from and last < self.published_from:
                return False
            if self.published_to and first > self.published_to:
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "outlets": list(self.outlets),
            "published_from": self.published_from,
            "published_to": self.published_to,
        }


def published_span(published: str | None) -> tuple[str, str] | None:
    """The first and last day a publication date may mean; None when it is not known.

    "2022" or "2022-03" is known only to the year or month: it spans a range, which a
    filter admits when it overlaps the one asked for.
    """
    if not published:
        return None
    known = published[:10]
    first = known + "-01-01"[: 10 - len(known)]
    last = known + "-12-31"[len(known) - 4 :] if len(known) < 10 else known
    return first, last


@dataclass(frozen=True, slots=True)
class Corroboration:
    """Another article saying the same thing, with its own verbatim quote to check."""

    source: Source
    quote: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Answer:
    """A verbatim quote: ``article.text[start:end] == quote``."""

    quote: str
    passage: str
    score: float
    start: int
    end: int
    source: Source
    also_reported_by: tuple[Corroboration, ...] = ()


@dataclass(frozen=True, slots=True)
class Result:
    """A question's answers, best first; qa.schemas.ask_response is how users see it."""

    question: str
    answers: tuple[Answer, ...] = field(default_factory=tuple)

    @property
    def abstained(self) -> bool:
        return not self.answers
