"""BM25 over passages: found by words, stored with the index, rebuilt on every write."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.config import Settings
from qa.encoders.hashing import HashingEncoder
from qa.errors import IndexCorruptError
from qa.indexing import build
from qa.retrieve import Retriever
from qa.store import Scored
from qa.store.local import LEXICAL, LocalStore
from qa.store.local.lexical import TOKENIZER, Bm25Lexical, _stemmer, top_among
from qa.types import Filters
from tests.conftest import opened, using
from tests.test_index import A, B, C, article

NONE = Filters()


def ids(found: list[list[Scored]]) -> list[list[int]]:
    return [[s.id for s in row] for row in found]


def test_bm25_ranks_by_rare_words_and_stems() -> None:
    lexical = Bm25Lexical.build(
        [
            "The talks were held in Zaporizhzhia on Friday.",
            "The talks continued without a result.",
            "Farmers harvested wheat.",
        ],
        [10, 20, 30],
    )
    found = ids(lexical.search(["Where in Zaporizhzhia did they hold talks?"], 3, NONE))
    assert found == [[10, 20]]  # 20 for "talks" only; 30 shares no word: not returned
    assert ids(lexical.search(["harvesting"], 1, NONE)) == [[30]]  # harvesting ~ harvested


WORDS = st.sampled_from(
    [
        *("the", "talks", "talked", "talking", "were", "held", "in", "Belarus"),
        *("Belarusian", "Kyiv", "ceasefire", "ceasefires", "it", "is", "a", "of", "and"),
        *("2022", "Zaporizhzhia", "grain", "ships", "ship", "shipped", "été", "Straße"),
    ]
)
TEXTS = st.lists(st.lists(WORDS, max_size=12).map(" ".join), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(texts=TEXTS, question=st.lists(WORDS, min_size=1, max_size=5).map(" ".join))
def test_bm25_built_text_by_text_scores_as_bm25s_own_tokenizer(
    texts: list[str], question: str
) -> None:
    """The streamed build gives each passage the score bm25s's own tokenize + index of
    all the texts at once would."""
    lexical = Bm25Lexical.build(iter(texts), list(range(len(texts))))
    tokenize = {k: v for k, v in TOKENIZER.items() if k != "stemmer"}
    found = {s.id: s.score for s in lexical.search([question], len(texts), NONE)[0]}
    if not any(bm25s.tokenize(texts, return_ids=False, show_progress=False, **tokenize)):
        assert found == {}  # bm25s's own index of no words at all fails
        return
    reference = bm25s.BM25()
    with np.errstate(divide="ignore", invalid="ignore"):  # texts of stopwords alone
        reference.index(
            bm25s.tokenize(texts, stemmer=_stemmer(), show_progress=False, **tokenize),
            show_progress=False,
        )
    words = bm25s_words(question)
    expected = np.nan_to_num(reference.get_scores(words)) if words else np.zeros(len(texts))
    assert [found.get(i, 0.0) for i in range(len(texts))] == pytest.approx(list(expected), abs=1e-6)


def bm25s_words(text: str) -> list[str]:
    """A text's words as bm25s's own tokenizer gives them, with the index's settings."""
    tokenize = {k: v for k, v in TOKENIZER.items() if k != "stemmer"}
    words: list[str] = bm25s.tokenize(
        [text], stemmer=_stemmer(), return_ids=False, show_progress=False, **tokenize
    )[0]
    return words


def stable_top(scores: np.ndarray, k: int) -> list[int]:
    """The k best rows of a stable sort of every score, positive ones only."""
    order = np.argsort(-scores, kind="stable")
    return [int(r) for r in order[:k] if scores[r] > 0]


@settings(max_examples=60, deadline=None)
@given(
    texts=TEXTS, question=st.lists(WORDS, min_size=1, max_size=6).map(" ".join), k=st.integers(1, 4)
)
def test_bm25_returns_the_k_best_as_a_stable_sort_of_bm25s_scores_would(
    texts: list[str], question: str, k: int
) -> None:
    """Scores summed from the question's postings, ranked among those rows only: the
    passages and order a sort of bm25s's own scores of every passage gives."""
    lexical = Bm25Lexical.build(texts, list(range(len(texts))))
    words = bm25s_words(question)
    if not words or len(lexical._model.vocab_dict) < 2:
        assert lexical.search([question], k, NONE) == [[]]
        return
    with np.errstate(invalid="ignore"):  # texts of stopwords alone
        expected = np.nan_to_num(lexical._model.get_scores(words))
    found = lexical.search([question], k, NONE)[0]
    assert [s.id for s in found] == stable_top(expected, k)
    assert [s.score for s in found] == [float(expected[s.id]) for s in found]


@settings(max_examples=200, deadline=None)
@given(
    postings=st.lists(st.sets(st.integers(0, 29), max_size=30), min_size=1, max_size=4),
    values=st.lists(st.sampled_from([0.5, 1.0, 1.5]), min_size=4, max_size=4),
    k=st.integers(1, 12),
)
def test_top_among_postings_is_the_top_of_every_score(
    postings: list[set[int]], values: list[float], k: int
) -> None:
    """Many ties (few distinct values), rows in several postings: the same rows in the
    same order as a stable sort of all 30 scores."""
    scores = np.zeros(30, dtype=np.float32)
    for posting, value in zip(postings, values, strict=False):
        scores[sorted(posting)] += value
    rows = np.concatenate([np.array(sorted(p), dtype=np.int32) for p in postings])
    picked = top_among(scores, rows, len(postings), k)
    assert [int(r) for r in picked] == stable_top(scores, k)


def test_a_question_without_words_to_match_finds_nothing() -> None:
    lexical = Bm25Lexical.build(["The talks were held in Belarus.", "It is what it is."], [1, 2])
    found = ids(lexical.search(["0", "Is it?", "?", "Belarus"], 2, NONE))
    assert found == [[], [], [], [1]]


@pytest.mark.parametrize("method", ["dense", "bm25", "hybrid"])
def test_every_method_takes_a_question_of_stopwords_or_one_character(
    seed_retriever: Retriever, method: str
) -> None:
    retriever = using(seed_retriever, method)
    for question in ("0", "Is it?", "?!"):
        result = retriever.ask(question)
        assert result.question == question
        assert result.abstained and not result.answers


def test_bm25_round_trips_on_disk(tmp_path: Path) -> None:
    lexical = Bm25Lexical.build(["Grain ships left Odesa.", "Rates rose again."], [7, 9])
    lexical.save(tmp_path / "bm25")
    again = Bm25Lexical.load(tmp_path / "bm25")
    assert list(again.ids) == [7, 9]
    assert again.search(["Odesa grain"], 2, NONE) == lexical.search(["Odesa grain"], 2, NONE)


def test_empty_bm25_finds_nothing(tmp_path: Path) -> None:
    Bm25Lexical.build([], []).save(tmp_path / "bm25")
    assert Bm25Lexical.load(tmp_path / "bm25").search(["anything"], 2, NONE) == [[]]


def test_bm25_follows_the_index_through_add_and_replace(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    build(LocalStore(fake_settings.index_dir), [A, B], fake_settings, lambda: fake_encoder)
    build(LocalStore(fake_settings.index_dir), [C], fake_settings, lambda: fake_encoder, add=True)
    index = opened(fake_settings.index_dir)
    assert index.lexical.size == index.documents.passage_count()
    changed = article("c", "The central bank kept rates unchanged in Reykjavik.")
    build(
        LocalStore(fake_settings.index_dir),
        [changed],
        fake_settings,
        lambda: fake_encoder,
        add=True,
    )
    index = opened(fake_settings.index_dir)
    docs = index.documents
    assert index.lexical.size == docs.passage_count()
    [top] = index.lexical.search(["Reykjavik"], 1, NONE)
    assert docs.passage(top[0].id).article_id == "c"
    [found] = index.lexical.search(["inflation decade"], 3, NONE)
    assert all(docs.passage(s.id).article_id != "c" for s in found)


def test_a_damaged_bm25_index_is_reported(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    build(LocalStore(fake_settings.index_dir), [A], fake_settings, lambda: fake_encoder)
    index_dir = fake_settings.index_dir
    (index_dir / opened(index_dir).version / LEXICAL / "ids.npy").unlink()
    with pytest.raises(IndexCorruptError, match=r"is damaged.*Run `qa index`"):
        opened(fake_settings.index_dir)


@pytest.mark.parametrize("method", ["dense", "bm25", "hybrid"])
def test_every_method_gives_verbatim_located_answers(
    seed_retriever: Retriever, method: str
) -> None:
    retriever = using(seed_retriever, method)
    result = retriever.ask("How many civilians had died, according to the government in Kyiv?")
    assert result.answers
    assert "352 Ukrainian civilians" in result.answers[0].quote
    for answer in result.answers:
        text = retriever.snapshot.documents.articles[answer.source.article_id].text
        assert text[answer.start : answer.end] == answer.quote
    assert retriever.ask("What is the capital of Australia?").abstained


def test_bm25_finds_a_word_the_model_misses(seed_retriever: Retriever) -> None:
    retriever = using(seed_retriever, "bm25")
    hits = retriever.search("Abramovich", 3)
    assert (
        "Abramovich"
        in retriever.snapshot.documents.articles[hits[0].article_id].text[
            hits[0].start : hits[0].end
        ]
    )


def test_passages_can_be_indexed_under_their_title(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    titled = article("t", "The committee met again on Tuesday.", title="Grain deal in Geneva")
    build(LocalStore(fake_settings.index_dir), [titled, B], fake_settings, lambda: fake_encoder)
    assert opened(fake_settings.index_dir).lexical.search(["Geneva"], 1, NONE) == [[]]
    with_title = fake_settings.model_copy(update={"passage_title": True})
    fake_encoder.encoded.clear()
    report = build(LocalStore(with_title.index_dir), [titled, B], with_title, lambda: fake_encoder)
    assert report.embedded == report.passages  # a change of what is indexed re-embeds all
    assert "Grain deal in Geneva\nThe committee met again on Tuesday." in fake_encoder.encoded
    index = opened(with_title.index_dir)
    [top] = index.lexical.search(["Geneva"], 1, NONE)
    assert index.documents.passage(top[0].id).article_id == "t"
    passage = index.documents.passages_of("t")[0]
    assert (
        index.documents.articles["t"].text[passage.start : passage.end]
        == "The committee met again on Tuesday."
    )
