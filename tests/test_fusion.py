"""Hybrid fusion: normalised scores, so that either kind of evidence can carry a passage."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from qa.fusion import Bag, Weights, fuse, neighbourhood_bm25, zscore
from qa.retrieve import Retriever
from qa.store.local.lexical import Bm25Lexical, stems
from qa.types import Filters
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
    for limit in (0, 1, 5):
        assert fuse(ids, *columns, W, limit=limit) == ranked[:limit]


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


# The words of the fusion: BM25 weighed by the question's neighbourhood.

PASSAGES = [
    "Talks between Ukraine and Russia opened near the border with Belarus on Monday.",
    "Ukraine asked for a ceasefire; Russia asked Ukraine for neutrality at the talks.",
    "The Belarusian foreign minister, Vladimir Makei, greeted the delegations.",
    "Ukraine said the talks in Belarus would go on, and Ukraine named its delegation.",
    "Zelensky said he would talk with Putin about the war in Ukraine.",
]


def test_over_the_whole_index_it_is_the_index_s_own_bm25() -> None:
    """Oracle: with every passage in the neighbourhood, bm25s's scores, to rounding."""
    question = "Who greeted the delegations at the talks in Belarus?"
    index = Bm25Lexical.build(PASSAGES, list(range(len(PASSAGES))))
    theirs = dict(index.search([question], len(PASSAGES), Filters())[0])
    ours = neighbourhood_bm25(stems(question), [Bag.of(stems(p)) for p in PASSAGES], len(PASSAGES))
    expected = [theirs.get(i, 0.0) for i in range(len(PASSAGES))]
    assert np.allclose(ours, expected, rtol=1e-4, atol=1e-6)


def test_a_word_every_neighbour_holds_weighs_less_than_one_a_single_neighbour_holds() -> None:
    words = [Bag.of(stems(p)) for p in PASSAGES]
    scores = neighbourhood_bm25(stems("Ukraine Makei"), words, len(PASSAGES))
    assert int(np.argmax(scores)) == 2  # Makei, once; not "Ukraine" twice


word_lists = st.lists(st.sampled_from(["talk", "ukrain", "belarus", "ceasefir", "protein"]))


@given(
    question=st.lists(st.sampled_from(["talk", "ukrain", "belarus", "gene"]), max_size=4),
    inside=st.lists(word_lists, min_size=1, max_size=8),
    outside=st.lists(word_lists, max_size=8),
)
def test_passages_beyond_the_neighbourhood_never_change_the_others_scores(
    question: list[str], inside: list[list[str]], outside: list[list[str]]
) -> None:
    bags = [Bag.of(words) for words in inside + outside]
    alone = neighbourhood_bm25(question, bags[: len(inside)], len(inside))
    grown = neighbourhood_bm25(question, bags, len(inside))
    assert np.allclose(grown[: len(inside)], alone)
    assert (grown >= 0).all()


def test_no_words_or_no_neighbourhood_scores_nothing() -> None:
    talk = [Bag.of(["talk"])]
    assert neighbourhood_bm25([], talk, 1).tolist() == [0.0]
    assert neighbourhood_bm25(["talk"], talk, 0).tolist() == [0.0]
    assert neighbourhood_bm25(["talk"], [], 5).tolist() == []
