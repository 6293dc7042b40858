"""Hits to answers: merging overlaps, choosing the quote, abstaining. No model needed."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from qa.answer import QuotePolicy, crowd, make_result, merge_overlapping, quote_window
from qa.schemas import ask_response
from qa.types import Answer, Article, Hit, Source, Span

TEXT = (
    "Talks began on Monday. The delegations met near the border. "
    "They agreed to meet again. Nothing else was decided.\n\n"
    "Another paragraph starts here. It has two sentences."
)
SENTENCES = (Span(0, 22), Span(23, 59), Span(60, 86), Span(87, 112), Span(114, 144), Span(145, 169))
ARTICLE = Article(Source("a1", "Title", "Outlet", None, "2022-03-03", None), TEXT)
POLICY = QuotePolicy(min_score=0.3, max_sentences=3, margin=0.08)


def hit(pid: int, first: int, last: int, score: float, scores: list[float], aid: str = "a1") -> Hit:
    return Hit(pid, aid, score, SENTENCES[first : last + 1], tuple(scores), similarity=score)


def test_sentences_fixture_slices_cleanly() -> None:
    assert [TEXT[s.start : s.end] for s in SENTENCES][1] == "The delegations met near the border."
    assert TEXT[SENTENCES[-1].start : SENTENCES[-1].end] == "It has two sentences."


def test_quote_is_best_sentence_and_verbatim() -> None:
    result = make_result(
        "where?", [hit(1, 0, 2, 0.7, [0.2, 0.8, 0.4])], {"a1": ARTICLE}, k=5, policy=POLICY
    )
    (answer,) = result.answers
    assert answer.quote == "The delegations met near the border."
    assert TEXT[answer.start : answer.end] == answer.quote
    assert answer.quote in answer.passage
    assert answer.passage == TEXT[0:86]
    assert answer.source.outlet == "Outlet"
    assert not result.abstained


def test_quote_widens_to_neighbours_that_match_nearly_as_well() -> None:
    assert quote_window([0.2, 0.8, 0.75], max_sentences=3, margin=0.08) == (1, 2)
    assert quote_window([0.78, 0.8, 0.75], max_sentences=3, margin=0.08) == (0, 2)
    assert quote_window([0.78, 0.8, 0.75], max_sentences=2, margin=0.08) == (0, 1)
    assert quote_window([0.1, 0.8, 0.1], max_sentences=3, margin=0.08) == (1, 1)


@given(st.lists(st.floats(-1, 1), min_size=1, max_size=12), st.integers(1, 5), st.floats(0, 1))
def test_quote_window_is_consecutive_bounded_and_holds_the_best(
    scores: list[float], max_sentences: int, margin: float
) -> None:
    first, last = quote_window(scores, max_sentences=max_sentences, margin=margin)
    assert 0 <= first <= last < len(scores)
    assert last - first + 1 <= max_sentences
    assert max(scores[first : last + 1]) == max(scores)
    assert all(s >= max(scores) - margin for s in scores[first : last + 1])


def test_overlapping_passages_of_one_article_merge_into_one_answer() -> None:
    hits = [hit(1, 0, 2, 0.6, [0.5, 0.6, 0.4]), hit(2, 2, 3, 0.7, [0.4, 0.7])]
    (merged,) = merge_overlapping(hits)
    assert merged.sentences == SENTENCES[0:4]
    assert merged.score == 0.7
    assert merged.passage_id == 2
    result = make_result("q", hits, {"a1": ARTICLE}, k=5, policy=POLICY)
    assert len(result.answers) == 1
    assert result.answers[0].quote == "Nothing else was decided."
    assert result.answers[0].passage == TEXT[0:112]


def test_passages_that_do_not_overlap_stay_apart() -> None:
    hits = [hit(1, 0, 1, 0.6, [0.5, 0.6]), hit(2, 4, 5, 0.5, [0.5, 0.4])]
    assert len(merge_overlapping(hits)) == 2
    other = Article(Source("a2"), TEXT)
    apart = [hit(1, 0, 2, 0.6, [0.5, 0.6, 0.4]), hit(2, 0, 2, 0.5, [0.5, 0.4, 0.3], aid="a2")]
    result = make_result("q", apart, {"a1": ARTICLE, "a2": other}, k=5, policy=POLICY)
    assert [a.source.article_id for a in result.answers] == ["a1", "a2"]


def test_an_article_beyond_its_share_waits_behind_other_articles() -> None:
    other = Article(Source("a2"), TEXT)
    articles = {"a1": ARTICLE, "a2": other}
    one = [hit(i, s, s, score, [score]) for i, s, score in ((1, 0, 0.9), (2, 2, 0.8), (3, 4, 0.7))]
    hits = [*one, hit(4, 1, 1, 0.5, [0.5], aid="a2")]
    policy = QuotePolicy(min_score=0.3, per_article=2)
    result = make_result("q", hits, articles, k=5, policy=policy)
    assert [a.source.article_id for a in result.answers] == ["a1", "a1", "a2", "a1"]
    assert [a.score for a in result.answers] == [0.9, 0.8, 0.5, 0.7]
    assert [a.source.article_id for a in make_result(
        "q", hits, articles, k=3, policy=policy).answers] == ["a1", "a1", "a2"]  # fmt: skip
    # With no other article to show, an article's answers all still come, in order.
    alone = make_result("q", one, articles, k=5, policy=QuotePolicy(0.3, per_article=1))
    assert [a.score for a in alone.answers] == [0.9, 0.8, 0.7]
    # An answer too weak to give does not count as another article's.
    weak = [*one, hit(4, 1, 1, 0.2, [0.2], aid="a2")]
    assert len(make_result("q", weak, articles, k=3, policy=policy).answers) == 3


@given(st.lists(st.sampled_from("abc"), max_size=12), st.integers(1, 4))
def test_crowding_only_reorders(articles: list[str], per_article: int) -> None:
    ranked = [hit(i, 0, 0, 1.0 - i / 100, [0.5], aid=a) for i, a in enumerate(articles)]
    out = crowd(ranked, per_article)
    assert sorted(h.passage_id for h in out) == list(range(len(ranked)))
    for a in set(articles):  # each article's hits keep their order
        mine = [h.passage_id for h in out if h.article_id == a]
        assert mine == sorted(mine)
    counts: dict[str, int] = {}
    seen_rest = False
    for h in out:  # nobody's first `per_article` come after anyone's extra ones
        counts[h.article_id] = counts.get(h.article_id, 0) + 1
        extra = counts[h.article_id] > per_article
        assert not (seen_rest and not extra)
        seen_rest = seen_rest or extra


def test_answers_are_ranked_and_cut_to_k() -> None:
    hits = [hit(1, 0, 0, 0.4, [0.4]), hit(2, 4, 4, 0.9, [0.9]), hit(3, 2, 2, 0.6, [0.6])]
    result = make_result("q", hits, {"a1": ARTICLE}, k=2, policy=POLICY)
    assert [a.score for a in result.answers] == [0.9, 0.6]


def test_abstains_when_nothing_scores_high_enough() -> None:
    hits = [hit(1, 0, 2, 0.29, [0.2, 0.29, 0.1])]
    result = make_result("capital of Australia?", hits, {"a1": ARTICLE}, k=5, policy=POLICY)
    assert result.abstained
    assert ask_response(result).model_dump() == {
        "question": "capital of Australia?",
        "answers": [],
        "abstained": True,
    }


def test_weak_answers_are_dropped_but_strong_ones_kept() -> None:
    hits = [hit(1, 0, 0, 0.8, [0.8]), hit(2, 4, 4, 0.1, [0.1])]
    result = make_result("q", hits, {"a1": ARTICLE}, k=5, policy=POLICY)
    assert len(result.answers) == 1


def test_answer_shape_keeps_its_names() -> None:
    result = make_result("q", [hit(1, 1, 1, 0.71234, [0.7])], {"a1": ARTICLE}, k=5, policy=POLICY)
    shape = ask_response(result).model_dump()
    assert set(shape) == {"question", "answers", "abstained"}
    (answer,) = shape["answers"]
    assert set(answer) == {
        "quote",
        "passage",
        "score",
        "start",
        "end",
        "source",
        "also_reported_by",
    }
    assert answer["score"] == 0.7123
    assert answer["also_reported_by"] == []
    assert answer["source"] == {
        "article_id": "a1",
        "title": "Title",
        "outlet": "Outlet",
        "author": None,
        "published": "2022-03-03",
        "url": None,
    }


# Two more articles for duplicates and corroboration: the same sentence in another
# outlet (syndicated), and a paraphrase of it.
WIRE = Article(Source("a2", "Wire copy", "Wire", None, None, "https://wire.example/1"), TEXT)
OTHER_TEXT = "Negotiators gathered close to the frontier. The weather was cold."
OTHER = Article(Source("a3", "Other", "Other Daily", None, None, None), OTHER_TEXT)
OTHER_SENTENCES = (Span(0, 43), Span(44, 65))
ARTICLES = {"a1": ARTICLE, "a2": WIRE, "a3": OTHER}
# Sentence ids: a1 and a2 use 0-5 and 10-15 (same text), a3 uses 20-21.
VECTORS = {
    **{i: np.eye(4)[min(i, 3)] for i in range(6)},
    **{10 + i: np.eye(4)[min(i, 3)] for i in range(6)},
    20: np.array([0.1, 0.995, 0.0, 0.0]),  # a paraphrase of sentence 1
    21: np.array([0.0, 0.0, 0.0, 1.0]),
}


def vectors(ids: list[int]) -> np.ndarray:
    return np.array([VECTORS[i] / np.linalg.norm(VECTORS[i]) for i in ids])


def hit_in(aid: str, first: int, last: int, score: float, scores: list[float]) -> Hit:
    if aid == "a3":
        spans, base = OTHER_SENTENCES, 20
    else:
        spans, base = SENTENCES, (0 if aid == "a1" else 10)
    ids = tuple(range(base + first, base + last + 1))
    return Hit(
        first + 100 * int(aid[1]),
        aid,
        score,
        spans[first : last + 1],
        tuple(scores),
        similarity=score,
        sentence_ids=ids,
    )


def test_a_syndicated_copy_folds_into_one_answer_with_its_source() -> None:
    hits = [hit_in("a1", 1, 1, 0.9, [0.9]), hit_in("a2", 1, 1, 0.85, [0.85])]
    (answer,) = make_result("q", hits, ARTICLES, k=5, policy=POLICY).answers
    assert answer.source.article_id == "a1"
    (also,) = answer.also_reported_by
    assert (also.source.outlet, also.quote) == ("Wire", "The delegations met near the border.")
    assert WIRE.text[also.start : also.end] == also.quote


def test_a_paraphrase_in_another_article_corroborates() -> None:
    hits = [
        hit_in("a1", 1, 1, 0.9, [0.9]),
        hit_in("a3", 0, 0, 0.8, [0.8]),
        hit_in("a1", 4, 4, 0.5, [0.5]),
    ]
    result = make_result("q", hits, ARTICLES, k=5, policy=POLICY, vectors=vectors)
    first, second = result.answers
    assert [c.source.article_id for c in first.also_reported_by] == ["a3"]
    assert first.also_reported_by[0].quote == "Negotiators gathered close to the frontier."
    assert second.quote == "Another paragraph starts here."
    assert (
        ask_response(result).model_dump()["answers"][0]["also_reported_by"][0]["outlet"]
        == "Other Daily"
    )


def test_without_vectors_only_the_same_words_fold() -> None:
    hits = [hit_in("a1", 1, 1, 0.9, [0.9]), hit_in("a3", 0, 0, 0.8, [0.8])]
    result = make_result("q", hits, ARTICLES, k=5, policy=POLICY)
    assert len(result.answers) == 2


def test_a_paragraph_printed_twice_in_one_article_is_one_answer() -> None:
    text = "The talks ended at dusk. Filler sentence here.\n\nThe talks ended at dusk."
    article = Article(Source("a9"), text)
    spans = (Span(0, 24), Span(25, 46), Span(48, 72))
    hits = [
        Hit(1, "a9", 0.9, spans[0:1], (0.9,), similarity=0.9, sentence_ids=(0,)),
        Hit(2, "a9", 0.88, spans[2:3], (0.88,), similarity=0.88, sentence_ids=(2,)),
        Hit(3, "a9", 0.5, spans[1:2], (0.5,), similarity=0.5, sentence_ids=(1,)),
    ]
    result = make_result("q", hits, {"a9": article}, k=5, policy=POLICY)
    assert [a.quote for a in result.answers] == [
        "The talks ended at dusk.",
        "Filler sentence here.",
    ]
    assert result.answers[0].also_reported_by == ()


def test_related_but_different_reports_stay_separate_answers() -> None:
    hits = [hit_in("a1", 1, 1, 0.9, [0.9]), hit_in("a3", 1, 1, 0.8, [0.8])]
    result = make_result("q", hits, ARTICLES, k=5, policy=POLICY, vectors=vectors)
    assert [a.source.article_id for a in result.answers] == ["a1", "a3"]
    assert all(not a.also_reported_by for a in result.answers)


def spans_of(text: str) -> tuple[Span, ...]:
    return tuple(Span(m.start(), m.end()) for m in re.finditer(r"[^\s.][^.]*\.”?", text))


LEAD = (
    "Putin met Macron in Moscow. That meeting lasted five hours. It was tense. "
    "It ended without a deal. Talks go on.\n\n“We will keep talking,” he said."
)


def lead_hit(first: int, last: int, best: int, lead_in: int = 0) -> Hit:
    spans = spans_of(LEAD)
    scores = [0.9 if i == best else 0.2 for i in range(first, last + 1)]
    return Hit(1, "a8", 0.9, spans[first : last + 1], tuple(scores), similarity=0.9,
               lead_in=spans[first - lead_in : first])  # fmt: skip


def lead_answer(hit: Hit) -> Answer:
    articles = {"a8": Article(Source("a8"), LEAD)}
    (answer,) = make_result("q", [hit], articles, k=1, policy=POLICY).answers
    assert LEAD[answer.start : answer.end] == answer.quote and answer.quote in answer.passage
    return answer


def test_a_quote_that_refers_back_brings_the_sentence_it_refers_to() -> None:
    # "It was tense" alone does not say what was, nor "That meeting" which meeting.
    answer = lead_answer(lead_hit(0, 4, best=2))
    assert (
        answer.quote == "Putin met Macron in Moscow. That meeting lasted five hours. It was tense."
    )
    # The sentence referred to may stand before the passage: the passage then grows.
    answer = lead_answer(lead_hit(1, 4, best=1, lead_in=1))
    assert answer.quote == "Putin met Macron in Moscow. That meeting lasted five hours."
    assert answer.passage.startswith("Putin met Macron in Moscow.")
    assert lead_answer(lead_hit(0, 4, best=4)).quote == "Talks go on."  # refers to nothing


def test_a_quote_reaches_back_two_sentences_at_most() -> None:
    answer = lead_answer(lead_hit(3, 4, best=3, lead_in=3))
    assert answer.quote == "That meeting lasted five hours. It was tense. It ended without a deal."
    # Within three sentences, what the best one refers to beats a neighbour that matches.
    spans = spans_of(LEAD)
    hit = Hit(1, "a8", 0.9, spans[0:5], (0.1, 0.1, 0.9, 0.88, 0.1), similarity=0.9)
    assert lead_answer(hit).quote == (
        "Putin met Macron in Moscow. That meeting lasted five hours. It was tense."
    )


def test_he_said_brings_the_sentence_that_names_him() -> None:
    answer = lead_answer(lead_hit(5, 5, best=5, lead_in=1))
    assert answer.quote == "Talks go on.\n\n“We will keep talking,” he said."
    assert lead_answer(lead_hit(5, 5, best=5)).quote == "“We will keep talking,” he said."


def test_a_lead_in_another_answer_quotes_is_left_out() -> None:
    spans = spans_of(LEAD)
    articles = {"a8": Article(Source("a8"), LEAD)}
    meeting = Hit(1, "a8", 0.9, spans[0:2], (0.2, 0.9), similarity=0.9)
    tense = Hit(2, "a8", 0.8, spans[2:3], (0.9,), similarity=0.8, lead_in=spans[0:2])
    first, second = make_result("q", [meeting, tense], articles, k=5, policy=POLICY).answers
    assert first.quote == "Putin met Macron in Moscow. That meeting lasted five hours."
    assert second.quote == "It was tense."  # its lead-in is the answer above
    # The other way round, the weaker answer would only repeat the better one's lead-in.
    weaker = replace(meeting, score=0.7)
    (only,) = make_result("q", [weaker, tense], articles, k=5, policy=POLICY).answers
    assert only.quote.startswith("Putin met Macron") and only.quote.endswith("It was tense.")
