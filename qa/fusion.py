"""Fusing the dense and BM25 rankings into one, by normalised scores.

Each candidate passage (from either top list) gets a meaning score, the passage's
cosine blended with its best sentence's (so a passage whose one sentence answers is not
diluted by its neighbours), and a word score. Both are z-normalised over the question's
candidates, so their scales meet, and added with weights. Chosen on the seed test set
and SciFact's train queries (a plateau: dense share 0.6-0.7, sentence share 0.25-0.5
score within 0.01 of each other); it beats reciprocal-rank fusion on both, and then,
untuned, on SQuAD.

The word score is BM25 with its document frequencies and mean length taken from the
question's neighbourhood, the passages nearest to it by meaning, not from the whole
index. The index's own IDF shifts as unrelated articles arrive: the words a topic's
articles share ("Ukraine", "talks") are worth nothing among those articles and a great
deal against science abstracts, so the order of a topic's own passages changed with
every addition. Their neighbourhood hardly changes, so neither does their order; on an
index no larger than the neighbourhood it is the index's own BM25.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# bm25s's defaults, which the lexical index is built with.
K1 = 1.5
B = 0.75


@dataclass(frozen=True, slots=True)
class Weights:
    dense: float = 0.65  # the meaning score's share; the words have the rest
    sentence: float = 0.4  # the best sentence's share of the meaning score


def zscore(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    if spread == 0.0:
        return np.zeros_like(values)
    normalised: np.ndarray = (values - values.mean()) / spread
    return normalised


@dataclass(frozen=True, slots=True)
class Bag:
    """A passage's words as BM25 counts them: how often each stands, and how many in all.
    Made once per passage and kept, as the same passages come near question after
    question."""

    counts: Mapping[str, int]
    length: int

    @classmethod
    def of(cls, words: Sequence[str]) -> Bag:
        return cls(Counter(words), len(words))


def neighbourhood_bm25(
    question: Sequence[str], passages: Sequence[Bag], neighbourhood: int
) -> np.ndarray:
    """BM25 (Lucene's IDF) of each passage's words for the question's words, with the
    document frequencies and mean length of the first ``neighbourhood`` passages.

    Passages beyond the neighbourhood are scored but never change another's score.
    """
    scores = np.zeros(len(passages), dtype=np.float64)
    size = min(neighbourhood, len(passages))
    if not size or not question:
        return scores
    counts = [bag.counts for bag in passages]
    lengths = np.array([bag.length for bag in passages], dtype=np.float64)
    mean_length = float(lengths[:size].mean()) or 1.0
    norm = K1 * (1 - B + B * lengths / mean_length)
    for word in question:  # a word asked twice counts twice, as in the index
        tf = np.array([c.get(word, 0) for c in counts], dtype=np.float64)
        df = float(np.count_nonzero(tf[:size]))
        idf = np.log(1 + (size - df + 0.5) / (df + 0.5))
        scores += idf * tf / (tf + norm)
    return scores


def fuse(
    candidates: Sequence[int],
    passage_cosine: np.ndarray,
    best_sentence_cosine: np.ndarray,
    bm25: np.ndarray,
    weights: Weights,
    *,
    limit: int | None = None,
) -> list[tuple[int, float]]:
    """(passage id, fused score), best first; the first ``limit`` only, if given."""
    if not len(candidates):
        return []
    meaning = (1 - weights.sentence) * passage_cosine + weights.sentence * best_sentence_cosine
    fused = weights.dense * zscore(meaning) + (1 - weights.dense) * zscore(bm25)
    order = np.argsort(-fused, kind="stable")[:limit]
    return [(int(candidates[i]), float(fused[i])) for i in order]
