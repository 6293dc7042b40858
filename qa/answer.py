"""Hits to answers: merge overlapping passages, pick the quote, attach the source.

Pure functions of the hits and the articles, so they are cheap to test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qa.types import Answer, Article, Hit, Result, Span


@dataclass(frozen=True, slots=True)
class QuotePolicy:
    """How answers are chosen; the values come from Settings."""

    min_score: float
    max_sentences: int = 3
    margin: float = 0.08


def make_result(
    question: str,
    hits: Sequence[Hit],
    articles: Mapping[str, Article],
    *,
    k: int,
    policy: QuotePolicy,
) -> Result:
    """The top ``k`` answers that match at least ``policy.min_score``; none means abstain."""
    ranked = sorted(merge_overlapping(hits), key=lambda h: h.score, reverse=True)
    answers = [
        to_answer(hit, articles[hit.article_id], policy)
        for hit in ranked
        if hit.similarity >= policy.min_score
    ]
    return Result(question, tuple(answers[:k]))


def merge_overlapping(hits: Sequence[Hit]) -> list[Hit]:
    """One hit per run of overlapping passages of an article, scored by its best passage."""
    by_article: dict[str, list[Hit]] = {}
    for hit in hits:
        by_article.setdefault(hit.article_id, []).append(hit)
    merged: list[Hit] = []
    for group in by_article.values():
        group.sort(key=lambda h: h.start)
        current = group[0]
        for hit in group[1:]:
            if hit.start < current.end:
                current = _union(current, hit)
            else:
                merged.append(current)
                current = hit
        merged.append(current)
    return merged


def quote_window(scores: Sequence[float], *, max_sentences: int, margin: float) -> tuple[int, int]:
    """The best sentence, widened to neighbours that match nearly as well: (first, last)."""
    best = max(range(len(scores)), key=scores.__getitem__)
    first = last = best
    floor = scores[best] - margin
    while last - first + 1 < max_sentences:
        left = scores[first - 1] if first > 0 else None
        right = scores[last + 1] if last + 1 < len(scores) else None
        if right is not None and right >= floor and (left is None or right >= left):
            last += 1
        elif left is not None and left >= floor:
            first -= 1
        else:
            break
    return first, last


def to_answer(hit: Hit, article: Article, policy: QuotePolicy) -> Answer:
    first, last = quote_window(
        hit.sentence_scores, max_sentences=policy.max_sentences, margin=policy.margin
    )
    start, end = hit.sentences[first].start, hit.sentences[last].end
    return Answer(
        quote=article.text[start:end],
        passage=article.text[hit.start : hit.end],
        score=hit.score,
        start=start,
        end=end,
        source=article.source,
    )


def _union(a: Hit, b: Hit) -> Hit:
    scores: dict[Span, float] = dict(zip(a.sentences, a.sentence_scores, strict=True))
    scores.update(zip(b.sentences, b.sentence_scores, strict=True))
    spans = sorted(scores, key=lambda s: s.start)
    best = a if a.score >= b.score else b
    return Hit(
        passage_id=best.passage_id,
        article_id=a.article_id,
        score=best.score,
        sentences=tuple(spans),
        sentence_scores=tuple(scores[s] for s in spans),
        similarity=max(a.similarity, b.similarity),
    )
