"""Hits to answers: merge overlapping passages, pick the quote, attach the source.

Pure functions of the hits and the articles, so they are cheap to test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from qa.config import Settings
from qa.quotations import whole
from qa.types import Answer, Article, Corroboration, Hit, Result, Span

_DEFAULTS = Settings.model_fields


@dataclass(frozen=True, slots=True)
class QuotePolicy:
    """How answers are chosen; the values come from Settings (their defaults too)."""

    min_score: float
    max_sentences: int = _DEFAULTS["quote_max_sentences"].default
    margin: float = _DEFAULTS["quote_margin"].default  # in standard deviations of the scores
    # quotes of two articles this similar say the same thing
    corroborate: float = _DEFAULTS["corroborate_min"].default
    per_article: int = _DEFAULTS["max_per_article"].default  # then behind the others'


# Quotes this similar are the same text, give or take punctuation or a caption's credit.
_DUPLICATE = 0.95
Vectors = Callable[[list[int]], np.ndarray]


def make_result(
    question: str,
    hits: Sequence[Hit],
    articles: Mapping[str, Article],
    *,
    k: int,
    policy: QuotePolicy,
    vectors: Vectors | None = None,
) -> Result:
    """The top ``k`` answers that match at least ``policy.min_score``; none means abstain.

    A quote that repeats a better one is not a new answer: from the same article it is
    dropped (pages print paragraphs and captions twice), from another article it is
    listed under the better one as ``also_reported_by``. Quotes of one article never
    share a sentence: a lead-in that a better answer already quotes is left out.
    ``vectors`` (sentence ids to unit vectors) lets paraphrases count; without it only
    equal wording does.
    """
    ranked = sorted(merge_overlapping(hits), key=lambda h: h.score, reverse=True)
    kept: list[_Kept] = []
    for hit in crowd(ranked, policy.per_article):
        if hit.similarity < policy.min_score:
            continue
        article = articles[hit.article_id]
        answer, first, last = _quote(hit, article, policy)
        if any(c.overlaps(answer) for c in kept):  # its lead-in is in a better answer
            answer, first, last = _quote(replace(hit, lead_in=()), article, policy)
            if any(c.overlaps(answer) for c in kept):
                continue
        vector = _mean(vectors, hit.sentence_ids[first : last + 1]) if vectors else None
        folded = _folded(answer.quote)
        same = next((c for c in kept if c.says_same(answer, folded, vector, policy)), None)
        if same is None:
            if len(kept) < k:
                kept.append(_Kept(answer, folded, vector))
            continue
        same.corroborate(answer)
    return Result(question, tuple(c.answer for c in kept))


def crowd(ranked: Sequence[Hit], per_article: int) -> list[Hit]:
    """The hits in order, but each article's beyond the first ``per_article`` last."""
    seen: dict[str, int] = {}
    first: list[Hit] = []
    rest: list[Hit] = []
    for hit in ranked:
        seen[hit.article_id] = seen.get(hit.article_id, 0) + 1
        (first if seen[hit.article_id] <= per_article else rest).append(hit)
    return first + rest


@dataclass(slots=True)
class _Kept:
    answer: Answer
    folded: str  # the quote's words, compared with every later candidate's
    vector: np.ndarray | None

    def says_same(
        self, other: Answer, folded: str, vector: np.ndarray | None, policy: QuotePolicy
    ) -> bool:
        if folded == self.folded:
            return True
        if vector is None or self.vector is None:
            return False
        similarity = float(vector @ self.vector)
        if other.source.article_id == self.answer.source.article_id:
            return similarity >= _DUPLICATE
        return similarity >= policy.corroborate

    def overlaps(self, other: Answer) -> bool:
        """The two quotes share text of one article."""
        mine = self.answer
        return (
            other.source.article_id == mine.source.article_id
            and other.start < mine.end
            and mine.start < other.end
        )

    def corroborate(self, other: Answer) -> None:
        listed = {self.answer.source.article_id} | {
            c.source.article_id for c in self.answer.also_reported_by
        }
        if other.source.article_id in listed:
            return
        extra = Corroboration(other.source, other.quote, other.start, other.end)
        self.answer = replace(self.answer, also_reported_by=(*self.answer.also_reported_by, extra))


def _mean(vectors: Vectors, ids: Sequence[int]) -> np.ndarray | None:
    if not ids:
        return None
    mean = vectors(list(ids)).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else None


def _folded(text: str) -> str:
    return " ".join(_WORDS.findall(text.casefold()))


_WORDS = re.compile(r"\w+")


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


# A quote whose first sentence starts with a pronoun or "this"/"these", or names its
# speaker only as "he said", leaves the reader asking who or what: the sentence before
# says, and joins the quote, from before the passage if need be.
_REFERS_BACK = re.compile(
    r"^[\W_]*(?:this|that|these|those|it|its|he|she|they|his|her|their|such)\b"
    r"|\b(?:he|she|they) (?:said|says|added|told|wrote|asked|noted)\b",
    re.IGNORECASE,
)
LEAD_IN = 2  # sentences at most: "That meeting ..." then "These meetings ..." runs this far


def _quote(hit: Hit, article: Article, policy: QuotePolicy) -> tuple[Answer, int, int]:
    """The answer, and which of the hit's sentences its quote spans.

    The quote is the best sentence with its close neighbours, the rest of a quotation
    it is part of, and the sentences before it that it refers back to; within
    ``max_sentences``, the best sentence comes first, then what it refers to, then the
    neighbours.
    """
    lead = len(hit.lead_in)
    sentences = (*hit.lead_in, *hit.sentences)  # the lead-in is before the passage
    first, last = quote_window(
        hit.sentence_scores, max_sentences=policy.max_sentences, margin=policy.margin
    )
    best = lead + max(range(len(hit.sentence_scores)), key=hit.sentence_scores.__getitem__)
    texts = [article.text[s.start : s.end] for s in sentences]
    low, high = whole(texts, lead + first, lead + last, policy.max_sentences)
    for _ in range(min(LEAD_IN, policy.max_sentences - 1)):
        if low == 0 or not _REFERS_BACK.search(texts[low]):
            break
        low -= 1
    while high - low + 1 > policy.max_sentences:
        if high > best:
            high -= 1
        else:
            low += 1
    start, end = sentences[low].start, sentences[high].end
    answer = Answer(
        quote=article.text[start:end],
        passage=article.text[min(start, hit.start) : hit.end],
        score=hit.score,
        start=start,
        end=end,
        source=article.source,
    )
    return answer, max(0, low - lead), high - lead


def _union(a: Hit, b: Hit) -> Hit:
    scores: dict[Span, float] = dict(zip(a.sentences, a.sentence_scores, strict=True))
    scores.update(zip(b.sentences, b.sentence_scores, strict=True))
    ids = dict(zip(a.sentences, a.sentence_ids, strict=False))
    ids.update(zip(b.sentences, b.sentence_ids, strict=False))
    spans = sorted(scores, key=lambda s: s.start)
    best = a if a.score >= b.score else b
    known = all(s in ids for s in spans)
    return Hit(
        passage_id=best.passage_id,
        article_id=a.article_id,
        score=best.score,
        sentences=tuple(spans),
        sentence_scores=tuple(scores[s] for s in spans),
        similarity=max(a.similarity, b.similarity),
        sentence_ids=tuple(ids[s] for s in spans) if known else (),
        lead_in=(a if a.start <= b.start else b).lead_in,
    )
