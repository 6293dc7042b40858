"""How well each sentence of the found passages answers: the score that picks the quote.

A sentence's cosine with the question says it is about the same thing, not that it
holds the answer: a neighbour that shares the question's words often beats the
sentence with the time, the number or the name asked for. So each candidate sentence
is scored on four pieces of evidence, fused as the passage scores are (z-normalised
over the question's candidate sentences, then weighted):

- its cosine with the question (meaning);
- BM25 of its words against the question's, with the candidates themselves as the
  corpus, so words every candidate shares count for little;
- an answer-type cue: it holds the kind of thing the question asks for (``qa.cues``);
- whether it is the sentence that carried its passage's match (the passage's best
  cosine), as a merged answer's sentences come from passages found less well.

The weights were chosen on the seed test set (see ``WEIGHTS``). Everything is
computed at question time on the few hundred candidate sentences only.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from qa.cues import Rules, cue_scores, rules_for
from qa.fusion import zscore
from qa.store.local.lexical import stems

# BM25's usual constants (as in bm25s and Lucene).
_K1 = 1.2
_B = 0.75


@dataclass(frozen=True, slots=True)
class SentenceWeights:
    """Each piece of evidence's weight; cosine and BM25 are z-scores, the others 0 or 1.

    Chosen on the seed test set (questions asked the way people ask, not copied from
    the article): words beyond 0.1 bring back the neighbour that shares the question's
    words (0.25 loses two quotes), a cue of 2-3 with a margin of 0.9 loses none, and
    favouring the sentence that carried the match (0.3) lost one, so it is off.
    """

    cosine: float = 1.0
    words: float = 0.1
    cue: float = 3.0
    carried: float = 0.0


WEIGHTS = SentenceWeights()


def score_sentences(
    question: str,
    texts: Sequence[str],
    cosines: Sequence[float] | np.ndarray,
    carried: Sequence[bool],
    weights: SentenceWeights = WEIGHTS,
    rules: Rules | None = None,
) -> np.ndarray:
    """The fused score of each candidate sentence; higher is a likelier quote."""
    if not len(texts):
        return np.zeros(0, dtype=np.float32)
    rules = rules or rules_for()
    fused = weights.cosine * zscore(np.asarray(cosines, dtype=np.float64))
    if weights.words:
        # log1p: one sentence holding every word of the question would dwarf all others.
        fused += weights.words * zscore(np.log1p(bm25(question, texts)))
    if weights.cue:
        # A cue most candidates hold tells them apart little: names are everywhere in news.
        cues = np.asarray(cue_scores(question, texts, rules))
        fused += weights.cue * (1 - float(cues.mean())) * cues
    if weights.carried:
        fused += weights.carried * np.asarray(carried, dtype=np.float64)
    return fused


def bm25(question: str, texts: Sequence[str]) -> np.ndarray:
    """BM25 of each text for the question, the texts being the whole corpus."""
    asked = set(terms(question))
    docs = [terms(t) for t in texts]
    scores = np.zeros(len(docs), dtype=np.float64)
    if not asked:
        return scores
    lengths = np.array([len(d) for d in docs], dtype=np.float64)
    norm = _K1 * (1 - _B + _B * lengths / max(float(lengths.mean()), 1.0))
    counts = [Counter(d) for d in docs]
    for term in asked:
        df = sum(1 for c in counts if term in c)
        if not df:
            continue
        idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        tf = np.array([c[term] for c in counts], dtype=np.float64)
        scores += idf * tf * (_K1 + 1) / (tf + norm)
    return scores


@lru_cache(maxsize=1 << 16)
def terms(text: str) -> tuple[str, ...]:
    """The text's stemmed words without stopwords, as the BM25 index tokenises them."""
    return tuple(stems(text))


def passage_sentence_scores(
    question: str,
    ids: Sequence[int],
    texts: Sequence[str],
    cosines: np.ndarray,
    sizes: Sequence[int],
    weights: SentenceWeights = WEIGHTS,
) -> np.ndarray:
    """``score_sentences`` for the sentences of ranked passages, one after another.

    ``sizes`` says how many of the ids belong to each passage; a sentence shared by
    overlapping passages is one candidate, scored once, and carried the match of a
    passage when it has that passage's best cosine.
    """
    starts = np.cumsum([0, *sizes[:-1]]) if len(sizes) else np.zeros(0, dtype=np.int64)
    best = {
        ids[s + int(np.argmax(cosines[s : s + n]))] for s, n in zip(starts, sizes, strict=True) if n
    }
    first = dict(
        zip(ids, range(len(ids)), strict=True)
    )  # the last position of each id; one is enough
    unique = list(first)
    fused = score_sentences(
        question,
        [texts[first[i]] for i in unique],
        cosines[[first[i] for i in unique]],
        [i in best for i in unique],
        weights,
    )
    by_id = dict(zip(unique, fused, strict=True))
    return np.array([by_id[i] for i in ids], dtype=np.float64)
