"""The ONNX encoders: exported on this machine, cached and checked, PyTorch's vectors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.config import DEFAULT_MODEL, Settings
from qa.corpus.load import load
from qa.corpus.split import chunk
from qa.encoders import Encoder, get_query_encoder
from qa.encoders.base import query_backend
from qa.encoders.export import MANIFEST, exported, instruction_set, model_file, verified
from qa.encoders.onnx import OnnxEncoder
from qa.encoders.torch import TorchEncoder, model_path
from qa.errors import IndexMismatchError, InputError, ModelError
from qa.indexing import build
from qa.retrieve import Retriever
from qa.store.local import LocalStore
from tests.conftest import SEEDS

BUNDLED = Path(model_path(DEFAULT_MODEL))


@pytest.fixture(scope="session")
def fresh_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache this session exported into from nothing (once: it takes a while)."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    exported(BUNDLED, DEFAULT_MODEL, cache, quantized=True)
    return cache


@pytest.fixture(scope="session")
def torch_encoder() -> TorchEncoder:
    return TorchEncoder.load(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def seed_passages() -> list[str]:
    texts = []
    for article in load([SEEDS]).articles:
        cut = chunk(article, max_sentences=3, max_chars=1000)
        texts += [article.text[p.start : p.end] for p in cut.passages]
    return texts


def _export_folder(cache: Path) -> Path:
    (folder,) = (cache / "onnx").iterdir()
    return folder


def test_export_on_a_fresh_cache_holds_both_models_with_checksums(fresh_cache: Path) -> None:
    folder = _export_folder(fresh_cache)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["isa"] == instruction_set()
    int8 = model_file(folder, "int8")
    assert instruction_set() in int8
    for name in ("onnx/model.onnx", int8, "tokenizer.json"):
        assert (folder / name).stat().st_size > 0
        assert name in manifest["files"]
    assert verified(folder, "fp32")
    assert verified(folder, "int8")
    assert not list(fresh_cache.glob(".export-*"))  # no scratch folder left behind


def test_a_damaged_export_is_noticed_and_redone(fresh_cache: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(fresh_cache, cache)
    folder = _export_folder(cache)
    model = folder / model_file(folder, "int8")
    good = model.read_bytes()
    model.write_bytes(good[: len(good) // 2])  # a copy cut short
    assert not verified(folder, "int8")

    again = exported(BUNDLED, DEFAULT_MODEL, cache, quantized=True)

    assert again.model_file == model
    assert verified(folder, "int8")
    assert model.stat().st_size > len(good) // 2


def test_an_export_without_its_manifest_is_not_trusted(fresh_cache: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(fresh_cache, cache)
    folder = _export_folder(cache)
    (folder / MANIFEST).unlink()  # killed before it finished
    assert not verified(folder, "fp32")
    assert not verified(folder, "int8")


# int8 on AVX2 (no VNNI), measured: mean 0.992, lowest 0.984 (README "Encoders").
@pytest.mark.parametrize("quantized, mean, lowest", [(True, 0.99, 0.98), (False, 0.9999, 0.9999)])
def test_onnx_vectors_are_pytorch_vectors(
    fresh_cache: Path,
    torch_encoder: TorchEncoder,
    seed_passages: list[str],
    quantized: bool,
    mean: float,
    lowest: float,
) -> None:
    onnx = OnnxEncoder.load(DEFAULT_MODEL, fresh_cache, quantized=quantized)
    reference = torch_encoder.encode_documents(seed_passages)
    vectors = onnx.encode_documents(seed_passages)
    cosines = np.sum(reference * vectors, axis=1)
    assert len(cosines) == len(seed_passages) > 50
    assert cosines.mean() >= mean
    assert cosines.min() >= lowest
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("quantized, floor", [(False, 0.9999), (True, 0.999999)])
def test_one_question_in_a_batch_gets_the_vector_it_gets_alone(
    fresh_cache: Path, quantized: bool, floor: float
) -> None:
    """fp32 to within padding's rounding; int8 exactly, as each question is its own call
    (a batched call quantizes its activations with one scale for all: cosine 0.99)."""
    encoder = OnnxEncoder.load(DEFAULT_MODEL, fresh_cache, quantized=quantized)
    questions = ["Who led the Russian delegation?", "Where were the talks held in the end?"]
    together = encoder.encode_queries(questions)
    for row, question in enumerate(questions):
        alone = encoder.encode_queries([question])[0]
        assert float(alone @ together[row]) > floor


def test_pooled_sentence_vectors_belong_to_their_own_sentences(
    real_encoder: Encoder, seed_passages: list[str]
) -> None:
    """A sentence's vector pooled from its passage is nearest its own text's vector."""
    articles = load([SEEDS]).articles
    texts, spans = [], []
    for article in articles[:3]:
        cut = chunk(article, max_sentences=3, max_chars=1000)
        for p in cut.passages:
            if p.last_sentence > p.first_sentence:
                texts.append(article.text[p.start : p.end])
                spans.append(
                    [
                        (s.start - p.start, s.end - p.start)
                        for s in cut.sentences[p.first_sentence : p.last_sentence + 1]
                    ]
                )
    _, pooled = real_encoder.encode_passages(texts, spans)
    right = 0
    total = 0
    for text, ranges, rows in zip(texts, spans, pooled, strict=True):
        alone = real_encoder.encode_documents([text[a:b] for a, b in ranges])
        nearest = np.argmax(rows @ alone.T, axis=1)
        right += int(np.sum(nearest == np.arange(len(ranges))))
        total += len(ranges)
    assert total > 50
    assert right / total >= 0.85  # 0.92 measured: neighbours share their passage's context


def test_a_model_onnx_cannot_run_names_the_torch_way_out(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(BUNDLED, model)
    modules = json.loads((model / "modules.json").read_text(encoding="utf-8"))
    modules.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "x.models.Dense"})
    (model / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    with pytest.raises(ModelError, match="QA_ENCODER=torch") as caught:
        OnnxEncoder.load(str(model), tmp_path / "cache", quantized=True)
    assert "\n" not in str(caught.value)


def test_an_export_that_fails_names_the_torch_way_out(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(BUNDLED, model)
    (model / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelError, match="QA_ENCODER=torch") as caught:
        OnnxEncoder.load(str(model), tmp_path / "cache", quantized=True)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "cache" / "onnx").exists() or not any(
        verified(f, "int8") for f in (tmp_path / "cache" / "onnx").iterdir()
    )


def test_an_index_of_another_encoder_family_is_the_mismatch_error(
    tmp_path: Path, fake_encoder: Encoder, real_encoder: Encoder
) -> None:
    settings = Settings(index_dir=tmp_path / "index", model=DEFAULT_MODEL, encoder="hashing")
    store = LocalStore(settings.index_dir)
    build(store, load([SEEDS]).articles[:1], settings, lambda: fake_encoder)
    with pytest.raises(IndexMismatchError, match="QA_ENCODER='hashing'"):
        Retriever(store.open(), real_encoder, settings.model_copy(update={"encoder": "onnx"}))


def test_pytorch_and_onnx_indexes_are_shared(
    seed_index_dir: Path, seed_settings: Settings, torch_encoder: TorchEncoder
) -> None:
    """The seed index is built with the ONNX default; PyTorch may search it."""
    snapshot = LocalStore(seed_index_dir).open()
    assert snapshot.manifest.encoder == "onnx"
    retriever = Retriever(snapshot, torch_encoder, seed_settings)
    top = retriever.ask("How many Russian troops are in Belarus?", k=1).answers[0]
    assert "30,000 troops in Belarus" in top.quote


def test_hybrid_questions_are_embedded_in_int8_where_that_is_measured_faster_and_as_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import qa.encoders.export

    settings = Settings(model=DEFAULT_MODEL, encoder="onnx", retriever="hybrid")
    monkeypatch.setattr(qa.encoders.export, "instruction_set", lambda: "avx512_vnni")
    assert query_backend(settings) == "onnx-int8"
    # dense alone lost 0.012 MRR@10 on SciFact with int8 questions; AVX2 ran no faster
    assert query_backend(settings.model_copy(update={"retriever": "dense"})) == "onnx"
    assert query_backend(settings.model_copy(update={"encoder": "torch"})) == "torch"
    assert query_backend(settings.model_copy(update={"query_encoder": "onnx"})) == "onnx"
    monkeypatch.setattr(qa.encoders.export, "instruction_set", lambda: "avx2")
    assert query_backend(settings) == "onnx"
    with pytest.raises(InputError, match="does not compute QA_ENCODER 'onnx'"):
        get_query_encoder(settings.model_copy(update={"query_encoder": "hashing"}))


def test_int8_questions_find_what_fp32_questions_find_in_an_fp32_index(
    seed_index_dir: Path, seed_settings: Settings, real_encoder: Encoder
) -> None:
    """The seed index is fp32 ONNX; int8 questions are searched in it unchanged."""
    asking = get_query_encoder(seed_settings.model_copy(update={"query_encoder": "onnx-int8"}))
    assert asking.backend == "onnx-int8"
    snapshot = LocalStore(seed_index_dir).open()
    int8 = Retriever(snapshot, asking, seed_settings)
    fp32 = Retriever(snapshot, real_encoder, seed_settings)
    question = "How many Russian troops are in Belarus?"
    assert int8.ask(question, k=1).answers[0].quote == fp32.ask(question, k=1).answers[0].quote
    cosine = float(
        asking.encode_queries([question])[0] @ real_encoder.encode_queries([question])[0]
    )
    assert cosine > 0.98
