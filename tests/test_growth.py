"""The ranking of the seed articles holds when unrelated articles join the index.

The distractors are 40 SQuAD 1.1 dev paragraphs (tests/data/distractors.jsonl), about a
hundred passages of encyclopedia text that answer no seed question. Before the words
were weighed by the question's neighbourhood (qa.fusion), they changed the first
answer of d06, d07 and d30 to another seed passage.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.config import Settings
from qa.corpus.load import load
from qa.encoders import Encoder
from qa.indexing import build
from qa.retrieve import Retriever
from qa.store.local import LocalStore
from tests.conftest import DATA

QUESTIONS = {
    "d01": "Where was the second round of talks held?",
    "d06": "Who greeted the delegations at the talks in Belarus?",
    "d07": "What does Ukraine want from the negotiations?",
    "d10": "How many Russian troops are stationed in Belarus?",
    "d30": "What did Zelensky say about talking with Putin?",
    "n09": "What does Moscow ultimately want from Ukraine's government?",
}


def first_answers(retriever: Retriever) -> dict[str, tuple[str, int, int]]:
    results = retriever.ask_batch(list(QUESTIONS.values()), 1)
    tops = [result.answers[0] for result in results]
    found = zip(QUESTIONS, tops, strict=True)
    return {qid: (a.source.article_id, a.start, a.end) for qid, a in found}


@pytest.fixture(scope="module")
def grown(
    tmp_path_factory: pytest.TempPathFactory,
    seed_index_dir: Path,
    seed_settings: Settings,
    real_encoder: Encoder,
) -> Retriever:
    """The seed index with the distractors added (only they are embedded)."""
    folder = tmp_path_factory.mktemp("grown") / "index"
    shutil.copytree(seed_index_dir, folder)
    store = LocalStore(folder)
    distractors = load([DATA / "distractors.jsonl"]).articles
    build(store, distractors, seed_settings, lambda: real_encoder, add=True)
    return Retriever(store.open(), real_encoder, seed_settings)


def test_unrelated_articles_leave_the_seed_answers_where_they_were(
    seed_retriever: Retriever, grown: Retriever
) -> None:
    seeds = seed_retriever.snapshot.documents.articles
    added = set(grown.snapshot.documents.articles) - set(seeds)
    assert len(added) == 40  # the distractors are in the index, and in the candidates:
    assert any(hit.article_id in added for hit in grown.search("Who led the Apollo program?", 5))
    assert first_answers(grown) == first_answers(seed_retriever)


def test_the_distractors_are_real_text_with_sources() -> None:
    articles = load([DATA / "distractors.jsonl"]).articles
    assert all(a.source.outlet and a.source.published and len(a.text) > 100 for a in articles)
