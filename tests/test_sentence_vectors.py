"""Sentence vectors from the passage pass: each span given to the encoder is its sentence."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from qa.config import Settings
from qa.corpus.load import load
from qa.encoders.hashing import HashingEncoder
from qa.indexing import build
from qa.store.local import LocalStore
from tests.conftest import FAKE_MODEL, SEEDS


@pytest.mark.parametrize("title", [False, True])
def test_the_spans_pooled_are_the_sentences_stored(tmp_path: Path, title: bool) -> None:
    """The hashing encoder embeds each span's own text (its two-pass fallback), so what
    it saw is exactly what each sentence's vector is made of."""
    settings = Settings(
        index_dir=tmp_path / "index",
        model=FAKE_MODEL,
        encoder="hashing",
        passage_title=title,
        sentence_vectors="pooled",
    )
    encoder = HashingEncoder(FAKE_MODEL)
    articles = load([SEEDS]).articles[:2]
    build(LocalStore(settings.index_dir), articles, settings, lambda: encoder)
    snapshot = LocalStore(settings.index_dir).open()
    docs = snapshot.documents
    expected = []
    for article in articles:
        for passage in docs.passages_of(article.id):
            for sid in passage.sentence_ids:
                span = docs.sentence(sid)
                expected.append(article.text[span.start : span.end])
    passages = sum(len(docs.passages_of(a.id)) for a in articles)
    assert sorted(encoder.encoded[passages:]) == sorted(expected)


def test_a_sentence_in_two_passages_gets_one_unit_vector(tmp_path: Path) -> None:
    settings = Settings(
        index_dir=tmp_path / "index", model=FAKE_MODEL, encoder="hashing", sentence_vectors="pooled"
    )
    encoder = HashingEncoder(FAKE_MODEL)
    articles = load([SEEDS]).articles
    store = LocalStore(settings.index_dir, sentence_codes="float32")  # exact, to test pooling alone
    build(store, articles, settings, lambda: encoder)
    docs = store.open().documents
    shared = [
        (article.text, sid)
        for article in articles
        for a, b in itertools.pairwise(docs.passages_of(article.id))
        for sid in a.sentence_ids
        if sid in b.sentence_ids
    ]
    assert shared  # passages of one long paragraph overlap by one sentence
    vectors = store.open().sentence_vectors.vectors([s for _, s in shared])
    spans = [(text, docs.sentence(sid)) for text, sid in shared]
    alone = encoder.embed_batch([text[s.start : s.end] for text, s in spans], batch_size=8)
    assert (vectors * alone).sum(axis=1).min() > 0.9999
