"""BM25 over passages: found by words, stored with the index, rebuilt on every write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.config import Settings
from qa.errors import IndexCorruptError
from qa.index import LEXICAL, open_index
from qa.indexing import build
from qa.lexical import Lexical
from qa.retrieve import Retriever
from tests.conftest import HashEmbedder, using
from tests.test_index import A, B, C, article


def test_bm25_ranks_by_rare_words_and_stems() -> None:
    lexical = Lexical.build(
        [
            "The talks were held in Zaporizhzhia on Friday.",
            "The talks continued without a result.",
            "Farmers harvested wheat.",
        ],
        [10, 20, 30],
    )
    scores, ids = lexical.search(["Where in Zaporizhzhia did they hold talks?"], 3)
    assert ids[0][0] == 10
    assert ids[0][1] == 20  # "talks" only
    assert ids[0][2] == -1 and scores[0][2] == 0  # no shared word: not returned
    _, ids = lexical.search(["harvesting"], 1)
    assert ids[0][0] == 30  # stemmed: harvesting ~ harvested


def test_a_question_without_words_to_match_finds_nothing() -> None:
    lexical = Lexical.build(["The talks were held in Belarus.", "It is what it is."], [1, 2])
    scores, ids = lexical.search(["0", "Is it?", "?", "Belarus"], 2)
    assert (ids[:3] == -1).all() and (scores[:3] == 0).all()
    assert ids[3][0] == 1


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
    lexical = Lexical.build(["Grain ships left Odesa.", "Rates rose again."], [7, 9])
    lexical.save(tmp_path / "bm25")
    again = Lexical.load(tmp_path / "bm25")
    assert list(again.ids) == [7, 9]
    assert np.array_equal(
        again.search(["Odesa grain"], 2)[1], lexical.search(["Odesa grain"], 2)[1]
    )


def test_empty_bm25_finds_nothing(tmp_path: Path) -> None:
    Lexical.build([], []).save(tmp_path / "bm25")
    scores, ids = Lexical.load(tmp_path / "bm25").search(["anything"], 2)
    assert (ids == -1).all() and (scores == 0).all()


def test_bm25_follows_the_index_through_add_and_replace(
    fake_settings: Settings, fake_embedder: HashEmbedder
) -> None:
    build(fake_settings.index_dir, [A, B], fake_settings, lambda: fake_embedder)
    build(fake_settings.index_dir, [C], fake_settings, lambda: fake_embedder, add=True)
    index = open_index(fake_settings.index_dir)
    assert sorted(index.lexical.ids) == sorted(index.passages)
    changed = article("c", "The central bank kept rates unchanged in Reykjavik.")
    build(fake_settings.index_dir, [changed], fake_settings, lambda: fake_embedder, add=True)
    index = open_index(fake_settings.index_dir)
    assert sorted(index.lexical.ids) == sorted(index.passages)
    _, ids = index.lexical.search(["Reykjavik"], 1)
    assert index.passages[int(ids[0][0])].article_id == "c"
    _, ids = index.lexical.search(["inflation decade"], 3)
    assert all(i == -1 or index.passages[int(i)].article_id != "c" for i in ids[0])


def test_a_damaged_bm25_index_is_reported(
    fake_settings: Settings, fake_embedder: HashEmbedder
) -> None:
    build(fake_settings.index_dir, [A], fake_settings, lambda: fake_embedder)
    (open_index(fake_settings.index_dir).path / LEXICAL / "ids.npy").unlink()
    with pytest.raises(IndexCorruptError, match=r"is damaged .*Run `qa index`"):
        open_index(fake_settings.index_dir)


@pytest.mark.parametrize("method", ["dense", "bm25", "hybrid"])
def test_every_method_gives_verbatim_located_answers(
    seed_retriever: Retriever, method: str
) -> None:
    retriever = using(seed_retriever, method)
    result = retriever.ask("How many civilians had died, according to the government in Kyiv?")
    assert result.answers
    assert "352 Ukrainian civilians" in result.answers[0].quote
    for answer in result.answers:
        text = retriever.index.articles[answer.source.article_id].text
        assert text[answer.start : answer.end] == answer.quote
    assert retriever.ask("What is the capital of Australia?").abstained


def test_bm25_finds_a_word_the_model_misses(seed_retriever: Retriever) -> None:
    retriever = using(seed_retriever, "bm25")
    hits = retriever.search("Abramovich", 3)
    assert (
        "Abramovich"
        in retriever.index.articles[hits[0].article_id].text[hits[0].start : hits[0].end]
    )


def test_passages_can_be_indexed_under_their_title(
    fake_settings: Settings, fake_embedder: HashEmbedder
) -> None:
    titled = article("t", "The committee met again on Tuesday.", title="Grain deal in Geneva")
    build(fake_settings.index_dir, [titled, B], fake_settings, lambda: fake_embedder)
    assert not open_index(fake_settings.index_dir).lexical.search(["Geneva"], 1)[1][0][0] >= 0
    with_title = fake_settings.model_copy(update={"passage_title": True})
    fake_embedder.embedded.clear()
    report = build(with_title.index_dir, [titled, B], with_title, lambda: fake_embedder)
    assert report.embedded == report.passages  # a change of what is indexed re-embeds all
    assert "Grain deal in Geneva\nThe committee met again on Tuesday." in fake_embedder.embedded
    index = open_index(with_title.index_dir)
    _, ids = index.lexical.search(["Geneva"], 1)
    assert index.passages[int(ids[0][0])].article_id == "t"
    passage = index.passages_of("t")[0]
    assert (
        index.articles["t"].text[passage.start : passage.end]
        == "The committee met again on Tuesday."
    )
