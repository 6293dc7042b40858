"""Hybrid fusion: normalised scores, so that either kind of evidence can carry a passage."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from qa.fusion import Weights, fuse, zscore
from qa.retrieve import Retriever
from tests.conftest import using

W = Weights()


def test_zscore_centres_and_scales_and_survives_a_flat_list() -> None:
    z = zscore(np.array([1.0, 2.0, 3.0]))
    assert abs(z.mean()) < 1e-9 and abs(z.std() - 1.0) < 1e-9
    assert zscore(np.array([5.0, 5.0])).tolist() == [0.0, 0.0]


# Fifty candidates, as a search would bring: meaning spread from 0.1 to 0.5.
SPREAD = np.linspace(0.1, 0.5, 50)


def test_a_strong_lexical_match_beats_middling_meaning() -> None:
    # Candidate 40 is the only one holding the question's rare word.
    bm25 = np.zeros(50)
    bm25[40] = 12.0
    ranked = fuse(list(range(50)), SPREAD, SPREAD, bm25, W)
    assert ranked[0][0] == 40


def test_a_paraphrase_with_no_shared_words_still_wins_on_meaning() -> None:
    # Candidate 0 shares no word with the question; the others share some.
    meaning = SPREAD.copy()
    meaning[0] = 0.85
    bm25 = np.linspace(1.0, 4.0, 50)
    bm25[0] = 0.0
    ranked = fuse(list(range(50)), meaning, meaning, bm25, W)
    assert ranked[0][0] == 0


def test_the_best_sentence_lifts_its_passage() -> None:
    base = dict(passage_cosine=np.array([0.6, 0.6]), bm25=np.array([1.0, 1.0]), weights=W)
    ranked = fuse([1, 2], best_sentence_cosine=np.array([0.6, 0.9]), **base)  # type: ignore[arg-type]
    assert [pid for pid, _ in ranked] == [2, 1]


@given(st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1), st.floats(0, 50)), max_size=30))
def test_fusion_ranks_every_candidate_once_best_first(
    rows: list[tuple[float, float, float]],
) -> None:
    ids = list(range(len(rows)))
    columns = [np.array(c, dtype=np.float64) for c in zip(*rows, strict=True)] or [np.zeros(0)] * 3
    ranked = fuse(ids, columns[0], columns[1], columns[2], W)
    assert sorted(pid for pid, _ in ranked) == ids
    scores = [score for _, score in ranked]
    assert scores == sorted(scores, reverse=True)


def test_hybrid_puts_a_lexical_only_and_a_meaning_led_answer_first(
    seed_retriever: Retriever,
) -> None:
    hybrid = using(seed_retriever, "hybrid")
    dense = using(seed_retriever, "dense")
    bm25 = using(seed_retriever, "bm25")
    # Words: "sanctions" and "Putin" find it; the model puts ten passages above it.
    words = "How did Putin respond to the sanctions?"
    answer = "changing his country’s nuclear posture"
    assert not any(answer in a.quote for a in dense.ask(words, 3).answers)
    assert answer in hybrid.ask(words, 1).answers[0].passage
    # Meaning: "behave" for "greeted each other cordially and shook hands".
    meaning = "How did the two delegations behave when they met?"
    answer = "greeted each other cordially"
    top = bm25.search(meaning, 1)[0]
    assert answer not in bm25.snapshot.documents.articles[top.article_id].text[top.start : top.end]
    assert answer in hybrid.ask(meaning, 1).answers[0].quote
