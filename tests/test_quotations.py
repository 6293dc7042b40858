"""A quote never cuts a speaker's quotation in two; quotes stay verbatim. No model needed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qa.answer import QuotePolicy, make_result
from qa.quotations import faces, whole
from qa.types import Article, Hit, Source, Span

ZELENSKY = [
    '"It is not that I want to talk with Putin.',
    "I think I have to talk with Putin.",
    "The world has to talk with Putin because there are no other ways to stop this war,"
    '" Zelensky said.',
]
REZNIKOV = [
    "“We don’t know where the peace talks could be relocated.",
    "This is the subject of discussion,” Oleksiy Reznikov told reporters.",
    "The talks resumed on Monday.",
]


@pytest.mark.parametrize(
    ("text", "marks"),
    [
        ('"It is not that I want to talk.', [True]),
        ('to stop this war," Zelensky said.', [False]),
        ('He called it "a waste of time" and left.', [True, False]),
        ('demands for the ("demilitarization") of Ukraine', [True, False]),
        ("“We don’t know.", [True]),
        ("of discussion,” Reznikov told.", [False]),
        ("No quotation here.", []),
    ],
)
def test_each_mark_is_read_as_opening_or_closing(text: str, marks: list[bool]) -> None:
    assert list(faces(text)) == marks


@pytest.mark.parametrize("best", [0, 1, 2])
def test_any_sentence_of_a_quotation_brings_the_whole_quotation(best: int) -> None:
    # The middle sentence has no mark of its own: the marks around it say it is quoted.
    assert whole(ZELENSKY, best, best, 3) == (0, 2)


def test_the_speaker_joins_the_words_and_the_words_join_the_speaker() -> None:
    assert whole(REZNIKOV, 0, 0, 3) == (0, 1)
    assert whole(REZNIKOV, 1, 1, 3) == (0, 1)
    assert whole(REZNIKOV, 2, 2, 3) == (2, 2)  # outside the quotation: unchanged


def test_a_quotation_longer_than_the_limit_stays_cut() -> None:
    assert whole(ZELENSKY, 2, 2, 2) == (1, 2)
    assert whole(ZELENSKY, 2, 2, 1) == (2, 2)


def test_a_quotation_closed_within_its_sentence_widens_nothing() -> None:
    texts = ["He said.", 'He called it "a waste of time" and left.', "Then he sat down."]
    assert whole(texts, 1, 1, 3) == (1, 1)


def _article(texts: list[str]) -> tuple[Article, tuple[Span, ...]]:
    spans, text = [], ""
    for sentence in texts:
        if text:
            text += " "
        spans.append(Span(len(text), len(text) + len(sentence)))
        text += sentence
    return Article(Source("a1", "Title"), text), tuple(spans)


def test_the_answer_quotes_the_whole_quotation_with_its_speaker() -> None:
    article, spans = _article(REZNIKOV)
    found = Hit(1, "a1", 1.0, spans, (2.0, 0.5, -1.0), similarity=0.8)
    policy = QuotePolicy(min_score=0.3, max_sentences=3, margin=0.0)
    (answer,) = make_result("Who said it?", [found], {"a1": article}, k=1, policy=policy).answers
    assert answer.quote == f"{REZNIKOV[0]} {REZNIKOV[1]}"
    assert article.text[answer.start : answer.end] == answer.quote


PIECES = st.sampled_from(
    ["Talks began", '"We will see', "he said.", "”", "“", '"', " ", "Minsk", "at 1 p.m.", ","]
)


@given(
    texts=st.lists(
        st.lists(PIECES, min_size=1, max_size=6).map(lambda p: " ".join(p).strip() + "."),
        min_size=1,
        max_size=6,
    ),
    data=st.data(),
    limit=st.integers(1, 4),
)
def test_quotes_with_any_marks_stay_verbatim_bounded_and_hold_the_best_sentence(
    texts: list[str], data: st.DataObject, limit: int
) -> None:
    article, spans = _article(texts)
    scores = data.draw(st.lists(st.floats(-3, 3), min_size=len(texts), max_size=len(texts)))
    found = Hit(1, "a1", 1.0, spans, tuple(scores), similarity=0.8)
    policy = QuotePolicy(min_score=0.3, max_sentences=limit, margin=0.5)
    (answer,) = make_result("What?", [found], {"a1": article}, k=1, policy=policy).answers
    assert article.text[answer.start : answer.end] == answer.quote
    inside = [s for s in spans if answer.start <= s.start and s.end <= answer.end]
    assert inside and len(inside) <= limit
    assert answer.start == inside[0].start and answer.end == inside[-1].end
    best = spans[max(range(len(scores)), key=scores.__getitem__)]
    assert best in inside
