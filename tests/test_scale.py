"""Large indexes: approximate search past a size, filters that still return k, and
builds that resume after a kill while the old index answers."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import qa.indexing
from qa.config import Settings
from qa.corpus.load import make_article
from qa.corpus.meta import Meta
from qa.encoders import Vectors
from qa.encoders.hashing import HashingEncoder
from qa.indexing import build, remove
from qa.retrieve import Retriever
from qa.store.base import StoredPassage
from qa.store.local import CHECKPOINTS, LocalStore, layout_of
from qa.store.local import vectors as faiss_vectors
from qa.store.local.vectors import FaissVectors, Layout, layout_for
from qa.types import Article, Filters
from tests.conftest import FAKE_MODEL

TOPICS = ("grain", "harbour", "railway", "election", "vaccine", "drought", "bridge", "border")


def story(i: int, outlet: str = "Daily") -> Article:
    """An article of four paragraphs about one topic, with words of its own."""
    topic = TOPICS[i % len(TOPICS)]
    text = "\n\n".join(
        f"Report {i} on the {topic} dispute, part {p}: officials of district{i} said the "
        f"{topic} talks with delegation{i} would resume. Observers expect word{i}x{p} soon."
        for p in range(4)
    )
    meta = Meta(
        id=f"s{i}", title=f"Story {i}", outlet=outlet, published=f"2022-03-{1 + i % 28:02d}"
    )
    return make_article(text, meta, origin=f"s{i}.txt", markdown=False)


def settings_for(index_dir: Path) -> Settings:
    return Settings(
        index_dir=index_dir, model=FAKE_MODEL, encoder="hashing", lock_timeout=5, min_score=-1
    )


def store(index_dir: Path, exact_max: int) -> LocalStore:
    return LocalStore(index_dir, exact_max=exact_max, nprobe=4)


def top_article(index_dir: Path, exact_max: int, question: str, **filters: object) -> str | None:
    retriever = Retriever(
        store(index_dir, exact_max).open(), HashingEncoder(FAKE_MODEL), settings_for(index_dir)
    )
    answers = retriever.ask(question, k=3, filters=Filters(**filters)).answers  # type: ignore[arg-type]
    return answers[0].source.article_id if answers else None


def test_search_is_exact_up_to_the_threshold_and_approximate_past_it(tmp_path: Path) -> None:
    index = tmp_path / "index"
    settings = settings_for(index)
    encoder = HashingEncoder(FAKE_MODEL)
    build(store(index, 100), [story(i) for i in range(20)], settings, lambda: encoder)
    small = store(index, 100).open()
    assert small.manifest.passages <= 100
    assert layout_of(small.manifest) == Layout()
    assert not small.passage_vectors.approximate  # type: ignore[attr-defined]

    build(store(index, 100), [story(i) for i in range(20, 60)], settings, lambda: encoder, add=True)
    large = store(index, 100).open()
    layout = layout_of(large.manifest)
    assert large.manifest.passages > 100
    assert layout.kind == "ivf" and layout.nlist >= 2
    assert layout.trained_on == large.manifest.passages
    assert large.passage_vectors.approximate  # type: ignore[attr-defined]
    assert top_article(index, 100, "district37 delegation37 word37x2") == "s37"
    assert top_article(index, 100, "district3 delegation3 word3x1") == "s3"


def test_adding_and_deleting_on_an_approximate_index_keeps_its_training(tmp_path: Path) -> None:
    index = tmp_path / "index"
    settings = settings_for(index)
    encoder = HashingEncoder(FAKE_MODEL)
    build(store(index, 50), [story(i) for i in range(40)], settings, lambda: encoder)
    trained = layout_of(store(index, 50).open().manifest)
    assert trained.kind == "ivf"

    build(store(index, 50), [story(90)], settings, lambda: encoder, add=True)
    after_add = store(index, 50).open()
    assert layout_of(after_add.manifest) == trained  # added to the cells, not retrained
    assert top_article(index, 50, "district90 delegation90 word90x3") == "s90"

    remove(store(index, 50), ["s90", "s5"], settings, lambda: encoder)
    after_delete = store(index, 50).open()
    assert layout_of(after_delete.manifest) == trained
    assert after_delete.passage_vectors.size == after_add.passage_vectors.size - 8
    assert top_article(index, 50, "district90 delegation90 word90x3") not in ("s90", None)
    gone = {p.id for a in ("s90", "s5") for p in after_add.documents.passages_of(a)}
    found = after_delete.passage_vectors.search(
        np.asarray(encoder.encode_queries(["district90 word90x3"])), 200, Filters()
    )
    assert gone.isdisjoint(s.id for s in found[0])


def test_rebuild_retrains_on_what_the_index_holds(tmp_path: Path) -> None:
    index = tmp_path / "index"
    settings = settings_for(index)
    encoder = HashingEncoder(FAKE_MODEL)
    build(store(index, 50), [story(i) for i in range(20)], settings, lambda: encoder)
    build(store(index, 50), [story(i) for i in range(20, 120)], settings, lambda: encoder, add=True)
    grown = store(index, 50).open()
    first = layout_of(grown.manifest)
    assert first.trained_on < grown.manifest.passages  # switched to IVF at the first crossing
    assert store(index, 50).describe(grown)["rebuild due"] != "no"

    def no_model() -> HashingEncoder:
        raise AssertionError("a rebuild embeds nothing")

    build(store(index, 50), [], settings, no_model, add=True, retrain=True)
    rebuilt = store(index, 50).open()
    assert layout_of(rebuilt.manifest).trained_on == rebuilt.manifest.passages
    assert store(index, 50).describe(rebuilt)["rebuild due"] == "no"
    assert set(rebuilt.documents.articles) == set(grown.documents.articles)
    assert top_article(index, 50, "district111 delegation111 word111x0") == "s111"


@pytest.mark.parametrize("exact_filtered", [faiss_vectors.EXACT_FILTERED, 0])
def test_a_filter_still_gets_k_answers_from_an_approximate_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exact_filtered: int
) -> None:
    """Whether the admitted passages are searched exactly among themselves or the IVF
    search visits more cells until it finds them."""
    monkeypatch.setattr(faiss_vectors, "EXACT_FILTERED", exact_filtered)
    index = tmp_path / "index"
    settings = settings_for(index)
    articles = [story(i, outlet="Rare" if i in (3, 41) else "Daily") for i in range(80)]
    build(store(index, 50), articles, settings, lambda: HashingEncoder(FAKE_MODEL))
    snapshot = store(index, 50).open()
    assert snapshot.passage_vectors.approximate  # type: ignore[attr-defined]
    query = np.asarray(HashingEncoder(FAKE_MODEL).encode_queries(["railway dispute report"]))
    rare = {p.id for a in ("s3", "s41") for p in snapshot.documents.passages_of(a)}
    found = snapshot.passage_vectors.search(query, 5, Filters(outlets=("Rare",)))[0]
    assert len(found) == 5 and {s.id for s in found} <= rare
    every = snapshot.passage_vectors.search(query, 50, Filters(outlets=("Rare",)))[0]
    assert {s.id for s in every} == rare  # all 8, though 50 were asked for


def clustered(n: int, dimension: int, seed: int) -> np.ndarray:
    """Unit vectors around 200 centres, as sentence embeddings of many topics lie."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, dimension))
    rows = centres[rng.integers(0, 200, n)] + 0.6 * rng.standard_normal((n, dimension))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows.astype(np.float32)


def test_approximate_search_finds_what_brute_force_cosine_finds(tmp_path: Path) -> None:
    """Recall@10 against exact cosine at the default cells visited (the scale benchmark
    measures it on real vectors)."""
    n, dimension = 40_000, 64
    rows = clustered(n, dimension, seed=1)
    ids = np.arange(n, dtype=np.int64) * 7 + 3
    layout = layout_for(n, exact_max=1000)
    path = tmp_path / "passages.faiss"
    faiss_vectors.write(path, None, dimension, [], ids, rows, layout=layout)
    index = FaissVectors.read(path)
    queries = clustered(200, dimension, seed=2)
    exact = ids[np.argsort(-(queries @ rows.T), axis=1)[:, :10]]
    found = index.search(queries, 10, Filters())
    recall = np.mean(
        [len({s.id for s in f} & set(e)) / 10 for f, e in zip(found, exact, strict=True)]
    )
    assert index.approximate
    assert recall >= 0.95, recall
    assert np.allclose(index.vectors(ids[:5].tolist()), rows[:5], atol=1e-6)


@pytest.mark.parametrize(
    ("codes", "tolerance"), [("float32", 1e-6), ("fp16", 1e-3), ("int8", 2e-2)]
)
def test_sentence_vectors_come_back_close_in_the_codes_they_were_kept_in(
    tmp_path: Path, codes: faiss_vectors.Codes, tolerance: float
) -> None:
    n, dimension = 3_000, 64
    rows = clustered(n, dimension, seed=3)
    ids = np.arange(n, dtype=np.int64) * 5 + 2
    path = tmp_path / "sentences.faiss"
    faiss_vectors.write(path, None, dimension, [], ids, [rows[:1000], rows[1000:]], codes=codes)
    index = FaissVectors.read(path)
    assert index.codes == codes
    assert np.abs(index.vectors(ids[::7].tolist()) - rows[::7]).max() < tolerance
    flat = 4 * dimension * n
    assert path.stat().st_size < {"float32": 1.1, "fp16": 0.6, "int8": 0.35}[codes] * flat

    # a later write keeps the codes it was made with, whatever it is told
    more = clustered(10, dimension, seed=4)
    after = tmp_path / "after.faiss"
    faiss_vectors.write(after, path, dimension, ids[:3].tolist(), ids[-10:] + 1, more)
    grown = FaissVectors.read(after)
    assert (grown.codes, grown.size) == (codes, n + 7)
    assert np.abs(grown.vectors((ids[-10:] + 1).tolist()) - more).max() < tolerance


def test_an_index_keeps_sentence_vectors_as_the_settings_say_and_tells_it(
    tmp_path: Path,
) -> None:
    index = tmp_path / "index"
    settings = settings_for(index).model_copy(update={"sentence_codes": "int8"})
    encoder = HashingEncoder(FAKE_MODEL)
    made = LocalStore(index, sentence_codes="int8")
    build(made, [story(i) for i in range(12)], settings, lambda: encoder)
    snapshot = made.open()
    assert made.describe(snapshot)["sentence vectors"] == "int8"
    docs = snapshot.documents
    sids = [s for p in docs.passages_of("s3") for s in p.sentence_ids]
    spans = [docs.sentence(s) for s in sids]
    texts = [docs.articles["s3"].text[span.start : span.end] for span in spans]
    stored = snapshot.sentence_vectors.vectors(sids)
    assert np.abs(stored - encoder.encode_documents(texts)).max() < 2e-2
    # an empty index has no vectors to learn int8's ranges from: it starts as float32
    empty = LocalStore(tmp_path / "empty", sentence_codes="int8")
    build(empty, [], settings, lambda: encoder)
    assert empty.describe(empty.open())["sentence vectors"] == "float32"


def test_a_search_from_a_question_thread_runs_on_one_openmp_thread(tmp_path: Path) -> None:
    """OpenMP's thread count is per thread: the service's question thread, not the one
    that imported FAISS, must be held to one (two cost 0.7 ms a batch under load)."""
    import threading

    import faiss

    rows = clustered(100, 16, seed=3)
    path = tmp_path / "passages.faiss"
    faiss_vectors.write(path, None, 16, [], np.arange(100), rows)
    index = FaissVectors.read(path)
    seen: list[tuple[int, int]] = []

    def ask() -> None:
        before = faiss.omp_get_max_threads()
        found = index.search(rows[:4], 3, Filters())
        seen.append((before, faiss.omp_get_max_threads()))
        assert [f[0].id for f in found] == [0, 1, 2, 3]

    thread = threading.Thread(target=ask)
    thread.start()
    thread.join()
    assert seen == [(os.cpu_count() or 1, 1)]


# -- a build killed part-way resumes -----------------------------------------------------------


class _SlowHashing(HashingEncoder):
    """The hashing encoder, slow enough to be killed part-way through a build."""

    def embed_batch(self, texts: Sequence[str], *, batch_size: int) -> Vectors:
        time.sleep(0.3)
        return super().embed_batch(texts, batch_size=batch_size)


def _killed_build(index_dir: str) -> None:
    qa.indexing.BATCH_PASSAGES = 16
    articles = [story(i) for i in range(100, 160)]
    settings = settings_for(Path(index_dir))
    build(
        LocalStore(Path(index_dir)), articles, settings, lambda: _SlowHashing(FAKE_MODEL), add=True
    )


def test_a_killed_build_resumes_from_its_last_batch_and_the_old_index_answers_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "index"
    settings = settings_for(index)
    build(
        LocalStore(index),
        [story(i) for i in range(5)],
        settings,
        lambda: HashingEncoder(FAKE_MODEL),
    )
    before = LocalStore(index).open()
    context = multiprocessing.get_context("forkserver")
    child = context.Process(target=_killed_build, args=(str(index),))
    child.start()
    saved = index / CHECKPOINTS
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(saved.glob("[0-9a-f]*"))) < 3:
        time.sleep(0.05)
    batches = len(list(saved.glob("[0-9a-f]*")))
    # Meanwhile the published index is whole and answers.
    assert LocalStore(index).current_version() == before.version
    assert top_article(index, 50_000, "district2 delegation2 word2x1") == "s2"
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join(30)
    assert batches >= 3
    assert LocalStore(index).current_version() == before.version

    monkeypatch.setattr(qa.indexing, "BATCH_PASSAGES", 16)
    again = HashingEncoder(FAKE_MODEL)
    articles = [story(i) for i in range(100, 160)]
    report = build(LocalStore(index), articles, settings, lambda: again, add=True)
    after = LocalStore(index).open()
    assert set(after.documents.articles) == set(before.documents.articles) | {
        a.id for a in articles
    }
    new = [p for a in articles for p in after.documents.passages_of(a.id)]
    needed = len(new) + len({s for p in new for s in p.sentence_ids})  # passages and sentences
    assert report.embedded == len(new)  # every new passage is in the index ...
    assert 0 < again.texts <= needed - 3 * 16  # ... but the saved batches were not embedded again
    assert top_article(index, 50_000, "district133 delegation133 word133x2") == "s133"
    assert not saved.exists()  # removed once published


def test_a_large_build_splits_on_every_core_as_one_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = [story(i) for i in range(30)]
    settings = settings_for(tmp_path / "index")
    alone = list(qa.indexing.split_all(corpus, settings))
    monkeypatch.setattr(qa.indexing, "PARALLEL_SPLIT", 10)
    spread = list(qa.indexing.split_all(corpus, settings))
    assert spread == alone
    assert len(alone) == 30 and all(len(c.passages) == 4 for c in alone)


def test_listing_the_articles_reads_none_of_their_texts(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "index")
    corpus = [story(i, outlet=("Daily", "Weekly")[i % 2]) for i in range(12)]
    build(store(tmp_path / "index", 1000), corpus, settings, lambda: HashingEncoder(FAKE_MODEL))
    docs = store(tmp_path / "index", 1000).open().documents
    listing = docs.listing()
    assert [s.article_id for s, _ in listing] == sorted(a.id for a in corpus)
    assert [s.outlet for s, _ in listing] == [
        ("Daily", "Weekly")[int(s.article_id[1:]) % 2] for s, _ in listing
    ]
    assert all(passages == 4 for _, passages in listing)
    assert not docs.articles._kept  # type: ignore[attr-defined]  # no text was read
    assert [len(docs.passages_of(s.article_id)) for s, _ in listing] == [4] * 12


def test_passages_and_sentences_kept_in_memory_stay_right_past_what_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Oracle: the lookups kept as objects (emptied when full) give the rows of the
    SQLite file, in any order, again and again."""
    import sqlite3

    from qa.store.local import STORE, documents
    from qa.store.local.versions import current_version
    from qa.types import Span

    settings = settings_for(tmp_path / "index")
    corpus = [story(i) for i in range(12)]
    build(store(tmp_path / "index", 1000), corpus, settings, lambda: HashingEncoder(FAKE_MODEL))
    docs = store(tmp_path / "index", 1000).open().documents
    with sqlite3.connect(current_version(tmp_path / "index") / STORE) as db:
        passages = {
            row[0]: StoredPassage(*row)
            for row in db.execute(
                "SELECT id, article_id, first_sentence, last_sentence, start_char, end_char "
                "FROM passages"
            )
        }
        spans = {
            i: Span(a, b)
            for i, a, b in db.execute("SELECT id, start_char, end_char FROM sentences")
        }
    monkeypatch.setattr(documents, "_KEPT_ROWS", 5)
    rng = np.random.default_rng(0)
    for wanted, look_up, kept in (
        (passages, docs.passage, "_passages"),
        (spans, docs.sentence, "_spans"),
    ):
        order = [int(i) for i in rng.permutation(sorted(wanted))] * 3
        assert [look_up(i) for i in order] == [wanted[i] for i in order]
        assert len(getattr(docs, kept)) <= 5
