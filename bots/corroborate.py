"""Which answers carry much the same report as an answer from another outlet.

A reader trusts a fact more when several outlets carry it, so the bot says so. It has
only the answers at hand, not the model, so it compares words: two quotes from different
outlets that share at least ``MIN_SHARED`` content words (stemmed; stopwords and the
question's own words left out, since every answer shares those), making up ``MIN_SHARE``
of the shorter quote, are taken to report the same thing. On the seeds this pairs
Foreign Policy's "30,000 troops in Belarus ... following joint military exercises" with
The Moscow Times' "thousands of Russian troops ... after joint military exercises", and
not quotes that merely share "Russia" and "Ukraine". It is a heuristic: the bot words
its note as "in similar words", which is what it checks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Protocol

from qa.types import Answer

MIN_SHARED = 3
MIN_SHARE = 0.3
_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    _WORD.findall(
        """a about after again against all also an and any are as at be been before being but
    by can could did do does during each for from had has have he her here hers him his how
    i if in into is it its just may me more most my no nor not now of off on once only or
    other our out over own said same say says she should so some such than that the their
    them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your
    according added report reported reporters reports tell tells told"""
    )
)


def similar_outlets(question: str, answers: Sequence[Answer]) -> list[tuple[str, ...]]:
    """For each answer, the other outlets whose answers among ``answers`` say the same.

    What qa itself lists in an answer's ``also_reported_by`` is taken in as well.
    """
    asked = _content_words(question)
    words = [_content_words(a.quote) - asked for a in answers]
    found: list[tuple[str, ...]] = []
    for i, answer in enumerate(answers):
        own = _key(answer.source.outlet)
        outlets: dict[str, str] = {}
        for other in getattr(answer, "also_reported_by", ()):
            name = getattr(other, "source", other).outlet  # a Corroboration, or a Source
            if name and _key(name) != own:
                outlets.setdefault(_key(name), name)
        for j, other in enumerate(answers):
            name = other.source.outlet
            if j == i or not name or _key(name) == own or _key(name) in outlets:
                continue
            if _same_report(words[i], words[j]):
                outlets[_key(name)] = name
        found.append(tuple(outlets.values()))
    return found


def _same_report(a: frozenset[str], b: frozenset[str]) -> bool:
    if not a or not b:
        return False
    shared = len(a & b)
    return shared >= MIN_SHARED and shared >= MIN_SHARE * min(len(a), len(b))


def _key(outlet: str | None) -> str:
    return (outlet or "").casefold()


def _content_words(text: str) -> frozenset[str]:
    words = [w for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS and len(w) > 1]
    return frozenset(_stemmer().stemWords(words))


class _Stemmer(Protocol):
    """The part of PyStemmer's (untyped) Stemmer used here."""

    def stemWords(self, words: list[str]) -> list[str]: ...


@cache
def _stemmer() -> _Stemmer:
    import Stemmer  # PyStemmer, which qa's BM25 index already needs

    stemmer: _Stemmer = Stemmer.Stemmer("english")
    return stemmer
