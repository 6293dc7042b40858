"""Choosing the quote's sentence: cues beat a closer paraphrase, quotes stay verbatim."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.config import Settings
from qa.encoders import Encoder
from qa.indexing import build
from qa.retrieve import Retriever
from qa.sentence_scores import SentenceWeights, bm25, score_sentences
from qa.store.local import LocalStore
from qa.types import Article, Source
from tests.conftest import using

# Each paragraph is one passage: a sentence that shares the question's words, then the
# sentence that holds what the question asks for, in other words.
CASES = [
    (
        "When did the negotiations begin?",
        "The negotiations began between the two delegations.",
        "The negotiations opened just after 1 p.m. local time.",
    ),
    (
        "How many soldiers are stationed in Belarus?",
        "Soldiers are stationed in Belarus after the joint exercises.",
        "Officials estimate the force in Belarus at 30,000 troops.",
    ),
    (
        "Who led the Russian delegation?",
        "The Russian delegation was led by a veteran diplomat.",
        "The Russian team was headed by Vladimir Medinsky.",
    ),
    (
        "What is Medinsky's role?",
        "Medinsky's role in the talks was discussed at length.",
        "Vladimir Medinsky, an aide to the Russian president, leads the team.",
    ),
    (
        "Where did the delegations meet?",
        "The delegations met for several hours and agreed to meet again.",
        "The delegations gathered in Gomel, close to the frontier.",
    ),
    (
        "Why did the airline cancel its flights?",
        "The airline cancelled all of its flights on Tuesday.",
        "The airline said it stopped flying because fuel had run out.",
    ),
]
TEXT = "\n\n".join(f"{paraphrase} {holds}" for _, paraphrase, holds in CASES)


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory, real_encoder: Encoder) -> Retriever:
    settings = Settings(index_dir=tmp_path_factory.mktemp("cues") / "index")
    article = Article(Source("cues", "Cues"), TEXT)
    build(LocalStore(settings.index_dir), [article], settings, lambda: real_encoder)
    return Retriever(LocalStore(settings.index_dir).open(), real_encoder, settings)


@pytest.mark.parametrize(("question", "paraphrase", "holds"), CASES)
def test_the_sentence_holding_what_is_asked_beats_a_closer_paraphrase(
    retriever: Retriever, question: str, paraphrase: str, holds: str
) -> None:
    vectors = retriever.encoder.encode_queries([question, paraphrase, holds])
    assert vectors[1] @ vectors[0] > vectors[2] @ vectors[0]  # by meaning alone: the paraphrase
    top = retriever.search(question, 1)[0]
    texts = [TEXT[s.start : s.end] for s in top.sentences]
    assert texts == [paraphrase, holds]
    assert top.sentence_scores[1] > top.sentence_scores[0]
    answer = retriever.ask(question, 1).answers[0]
    assert holds in answer.quote


def test_a_neighbour_within_the_margin_joins_the_quote_and_one_outside_does_not(
    retriever: Retriever,
) -> None:
    wide, narrow = using(retriever, quote_margin=9.0), using(retriever, quote_margin=0.0)
    question, paraphrase, holds = CASES[0]
    assert wide.ask(question, 1).answers[0].quote == f"{paraphrase} {holds}"
    assert narrow.ask(question, 1).answers[0].quote == holds


def test_bm25_favours_the_sentence_with_the_rarer_words_of_the_question() -> None:
    texts = ["Talks resumed in Gomel.", "Talks resumed.", "Talks resumed again."]
    scores = bm25("Where in Gomel did talks resume?", texts)
    assert scores[0] > scores[1] > 0
    assert bm25("the of and", texts).tolist() == [0.0, 0.0, 0.0]


def test_with_only_the_cosine_the_closest_sentence_wins() -> None:
    only_meaning = SentenceWeights(cosine=1.0, words=0.0, cue=0.0, carried=0.0)
    scores = score_sentences(
        "When did it start?", ["It began at 1 p.m.", "It started."], [0.2, 0.6], [False, True],
        only_meaning,
    )  # fmt: skip
    assert int(np.argmax(scores)) == 1


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    words=st.lists(
        st.sampled_from(
            (
                "when",
                "how many",
                "who",
                "where",
                "why",
                "the talks",
                "began",
                "1 p.m.",
                "Gomel",
                "soldiers",
                "airline",
                "flights",
                "fuel",
                "Medinsky",
                "30,000",
                "delegations",
            )
        ),
        min_size=1,
        max_size=8,
    ),
    margin=st.floats(0, 10),
)
def test_every_quote_stays_verbatim(retriever: Retriever, words: list[str], margin: float) -> None:
    asking = using(retriever, quote_margin=margin, min_score=-1.0)
    for answer in asking.ask(" ".join(words) + "?", 5).answers:
        assert TEXT[answer.start : answer.end] == answer.quote
        assert answer.quote in answer.passage
