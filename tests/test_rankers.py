"""Rankers chosen from the settings, and the optional cross-encoder re-ranking stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.config import Settings
from qa.encoders import get_encoder
from qa.errors import InputError, ModelError
from qa.rankers import CrossEncoderReranker, HybridRanker, make_ranker
from qa.retrieve import Retriever
from qa.store import get_store
from qa.store.base import indexed_text
from qa.types import Filters
from tests.conftest import SEEDS, using

QUESTION = "Where did the delegations meet?"


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised one-layer BERT cross-encoder, saved by the test itself.

    Its scores mean nothing; it shows that the re-ranker's order is the model's order.
    """
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    words = ["the", "a", "of", "in", "to", "and", "talks", "delegations", "met", "meet"]
    words += ["where", "belarus", "ukraine", "russia"]
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab))
    torch.manual_seed(7)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=512,
        num_labels=1,
    )
    model = BertForSequenceClassification(config)
    saved = folder / "model"
    model.save_pretrained(saved)
    tokenizer.save_pretrained(saved)
    CrossEncoder(str(saved), local_files_only=True)  # it loads as a CrossEncoder
    return saved


def test_the_reranker_orders_the_first_candidates_as_its_model_says(
    seed_retriever: Retriever, tiny_cross_encoder: Path
) -> None:
    reranked = using(seed_retriever, reranker=tiny_cross_encoder, rerank_depth=8)
    assert isinstance(reranked.ranker, CrossEncoderReranker)
    before = seed_retriever.search(QUESTION, 5)
    after = reranked.search(QUESTION, 5)
    head = [h.passage_id for h in before[:8]]
    docs = seed_retriever.snapshot.documents
    texts = [indexed_text(docs.articles[h.article_id], docs.passage(h.passage_id), title=False)
             for h in before[:8]]  # fmt: skip
    scores = reranked.ranker.model.predict(  # type: ignore[attr-defined]
        [(QUESTION, t) for t in texts], show_progress_bar=False
    )
    by_model = [pid for _, pid in sorted(zip(scores, head, strict=True), key=lambda p: -p[0])]
    assert [h.passage_id for h in after[:8]] == by_model
    assert by_model != head  # the tiny model does change the order
    assert [h.passage_id for h in after[8:]] == [h.passage_id for h in before[8:]]
    for answer in reranked.ask(QUESTION, 5).answers:
        text = docs.articles[answer.source.article_id].text
        assert text[answer.start : answer.end] == answer.quote


def test_the_ranker_is_chosen_from_the_settings(seed_retriever: Retriever) -> None:
    assert isinstance(seed_retriever.ranker, HybridRanker)
    for name in ("dense", "bm25", "hybrid"):
        assert using(seed_retriever, name).ranker.name == name
    with pytest.raises(InputError, match="unknown retriever 'magic'; choose from dense"):
        make_ranker(
            seed_retriever.settings.model_copy(update={"retriever": "magic"}),
            seed_retriever.snapshot,
        )


def test_a_missing_reranker_folder_says_what_to_do(
    seed_retriever: Retriever, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match=r"QA_RERANKER .* is not a folder.*or unset it"):
        using(seed_retriever, reranker=tmp_path / "nowhere")


def test_unknown_encoders_and_stores_are_named() -> None:
    with pytest.raises(InputError, match="QA_ENCODER 'magic' is not an encoder qa has"):
        get_encoder(Settings(encoder="magic"))
    with pytest.raises(InputError, match="QA_STORE 'cloud' is not a store qa has"):
        get_store(Settings(store="cloud"))


def test_bm25_beside_the_vector_search_ranks_as_one_after_the_other(
    seed_retriever: Retriever,
) -> None:
    """From QA_BESIDE_FROM passages BM25 runs in a thread beside the vector search: the
    same passages with the same scores, filtered or not, one question or several."""
    after = using(seed_retriever, "hybrid", beside_from=10**9)
    beside = using(seed_retriever, "hybrid", beside_from=0)
    assert isinstance(beside.ranker, HybridRanker) and isinstance(after.ranker, HybridRanker)
    assert beside.ranker.beside and not after.ranker.beside
    outlet = next(iter(seed_retriever.snapshot.documents.articles.values())).source.outlet
    assert outlet
    lines = (SEEDS / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()][:12]
    for filters in (Filters(), Filters(outlets=(outlet,))):
        found = [
            [
                [(h.passage_id, round(h.score, 6)) for h in hits]
                for hits in r.search_batch(questions, 5, filters)
            ]
            for r in (after, beside)
        ]
        assert found[0] == found[1]
        assert all(found[0])  # every question found passages: the comparison is not empty
