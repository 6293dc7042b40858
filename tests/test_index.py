"""The index on disk: round trips, incremental writes, crash safety and load errors."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from qa.config import DEFAULT_MODEL, Settings
from qa.corpus.load import load, make_article
from qa.corpus.meta import Meta
from qa.encoders import Encoder, get_query_encoder
from qa.encoders.hashing import HashingEncoder
from qa.errors import (
    IndexBusyError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
)
from qa.indexing import BuildReport, build
from qa.retrieve import Retriever
from qa.schemas import ask_response
from qa.store import Snapshot, StoredPassage
from qa.store.local import PASSAGE_VECTORS, STORE, LocalStore
from qa.store.local.versions import CURRENT, MANIFEST, versions
from qa.store.manifest import FORMAT_VERSION
from qa.types import Article, Filters
from tests.conftest import FAKE_MODEL, ROOT, SEEDS, opened
from tests.serving import qa_process


def article(aid: str, *sentences: str, title: str | None = None) -> Article:
    text = "\n\n".join(sentences)
    return make_article(text, Meta(id=aid, title=title), origin=f"{aid}.txt", markdown=False)


A = article(
    "a",
    "The committee met in Geneva on Tuesday to discuss the grain deal. Delegates from "
    "both sides attended the meeting. They agreed to meet again next month.",
    "Shipping companies welcomed the news of the agreement. Insurance costs fell sharply.",
)
B = article(
    "b",
    "Farmers in the south reported a record harvest this year. Prices for wheat dropped "
    "as a result of the harvest. Exporters expect strong demand from abroad.",
)
C = article(
    "c",
    "The central bank raised interest rates by half a point. Inflation had reached its "
    "highest level in a decade. Economists had expected a smaller increase.",
)


def no_model() -> Encoder:
    raise AssertionError("the model was loaded although nothing needed embedding")


def folder(index_dir: Path) -> Path:
    """The folder of the version in use."""
    return index_dir / opened(index_dir).version


def every_passage(snapshot: Snapshot) -> list[StoredPassage]:
    docs = snapshot.documents
    return [docs.passage(i) for i in docs.passage_ids()]


def make_build(settings: Settings, embedder: HashingEncoder) -> Callable[..., BuildReport]:
    def run(articles: list[Article], *, add: bool = False) -> BuildReport:
        return build(LocalStore(settings.index_dir), articles, settings, lambda: embedder, add=add)

    return run


def test_build_writes_a_self_describing_index(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    report = build(LocalStore(fake_settings.index_dir), [A, B], fake_settings, lambda: fake_encoder)
    index = opened(fake_settings.index_dir, model=FAKE_MODEL)
    manifest = json.loads((folder(fake_settings.index_dir) / MANIFEST).read_text())
    assert manifest["model"] == FAKE_MODEL
    assert manifest["dimension"] == 64
    assert manifest["format"] == FORMAT_VERSION
    assert manifest["articles"] == 2 == len(index.documents.articles)
    assert manifest["passages"] == index.documents.passage_count() == report.passages > 2
    assert manifest["sentences"] == index.documents.sentence_count() == 8
    assert manifest["built_at"].endswith("+00:00")
    assert {"faiss-cpu", "sentence-transformers"} <= set(manifest["versions"])
    for passage in every_passage(index):
        text = index.documents.articles[passage.article_id].text
        first, last = (
            index.documents.sentence(passage.first_sentence),
            index.documents.sentence(passage.last_sentence),
        )
        assert (first.start, last.end) == (passage.start, passage.end)
        assert text[passage.start : passage.end].strip() == text[passage.start : passage.end]


def test_the_sentences_before_a_passage_are_its_articles_own(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    run = make_build(fake_settings, fake_encoder)
    run([A, B])
    run([C], add=True)  # ids of a later write follow those of the first
    index = opened(fake_settings.index_dir)
    for aid in ("a", "b", "c"):
        passages = index.documents.passages_of(aid)
        sentences = sorted({index.documents.sentence(i) for p in passages for i in p.sentence_ids},
                           key=lambda s: s.start)  # fmt: skip
        for passage in passages:
            earlier = [s for s in sentences if s.end <= passage.start]
            assert index.documents.sentences_before(passage, 2) == tuple(earlier[-2:])
        assert index.documents.sentences_before(passages[0], 2) == ()


def test_faiss_hits_match_brute_force_cosine(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    build(LocalStore(fake_settings.index_dir), [A, B, C], fake_settings, lambda: fake_encoder)
    index = opened(fake_settings.index_dir)
    ids = sorted(index.documents.passage_ids())
    matrix = index.passage_vectors.vectors(ids)
    query = fake_encoder.encode_queries(["Why did wheat prices drop after the harvest?"])
    found = index.passage_vectors.search(query, 4, Filters())[0]
    brute = matrix @ query[0]
    order = np.argsort(-brute)[:4]
    assert [f.id for f in found] == [ids[i] for i in order]
    assert np.allclose([f.score for f in found], brute[order], atol=1e-5)
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)


def test_round_trip_in_a_new_process(seed_index_dir: Path, seed_settings: Settings) -> None:
    """`qa ask` in a process of its own answers as this one does with the same settings
    (its questions embedded as the settings choose: int8 for hybrid on AVX-512 VNNI)."""
    question = "How many Russian troops are in Belarus?"
    retriever = Retriever(
        LocalStore(seed_index_dir).open(), get_query_encoder(seed_settings), seed_settings
    )
    here = ask_response(retriever.ask(question, 3)).model_dump()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "qa",
            "ask",
            question,
            "--k",
            "3",
            "--json",
            "--index-dir",
            str(seed_index_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=300,
    )
    there = json.loads(out.stdout)
    assert there["answers"]
    assert [a["quote"] for a in there["answers"]] == [a["quote"] for a in here["answers"]]
    assert [a["score"] for a in there["answers"]] == pytest.approx(
        [a["score"] for a in here["answers"]], abs=1e-4
    )


def test_add_embeds_only_the_new_articles(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    run = make_build(fake_settings, fake_encoder)
    run([A, B])
    before = opened(fake_settings.index_dir)
    fake_encoder.encoded.clear()
    report = run([C], add=True)
    after = opened(fake_settings.index_dir)
    assert set(after.documents.articles) == {"a", "b", "c"}
    assert fake_encoder.encoded and all(t in C.text for t in fake_encoder.encoded)
    assert report.added == ("c",)
    for pid, passage in ((p.id, p) for p in every_passage(before)):
        assert after.documents.passage(pid) == passage
    old_ids = sorted(before.documents.passage_ids())
    assert np.array_equal(
        after.passage_vectors.vectors(old_ids), before.passage_vectors.vectors(old_ids)
    )
    assert min(p.id for p in after.documents.passages_of("c")) > max(old_ids)


def test_reindexing_a_changed_article_replaces_its_passages(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    run = make_build(fake_settings, fake_encoder)
    run([A, B])
    before = opened(fake_settings.index_dir)
    changed = article("b", "Farmers in the north lost much of the harvest to floods this year.")
    fake_encoder.encoded.clear()
    report = run([A, changed])
    after = opened(fake_settings.index_dir)
    assert report.updated == ("b",)
    assert all(t in changed.text for t in fake_encoder.encoded)
    assert after.documents.articles["b"].text == changed.text
    assert len(after.documents.passages_of("b")) == 1
    spans = [(p.article_id, p.start, p.end) for p in every_passage(after)]
    assert len(spans) == len(set(spans))
    assert {p.id for p in after.documents.passages_of("a")} == {
        p.id for p in before.documents.passages_of("a")
    }
    assert not {p.id for p in after.documents.passages_of("b")} & {
        p.id for p in before.documents.passages_of("b")
    }
    assert after.manifest.passages == after.documents.passage_count()


def test_adding_a_changed_article_also_replaces_it(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    run = make_build(fake_settings, fake_encoder)
    run([A, B])
    changed = article("a", "The committee postponed its meeting in Geneva until further notice.")
    run([changed], add=True)
    after = opened(fake_settings.index_dir)
    assert set(after.documents.articles) == {"a", "b"}
    assert [
        after.documents.articles["a"].text[p.start : p.end]
        for p in after.documents.passages_of("a")
    ] == [changed.text]


def test_full_build_drops_articles_not_given(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    run = make_build(fake_settings, fake_encoder)
    run([A, B, C])
    report = run([A, C])
    index = opened(fake_settings.index_dir)
    assert report.removed == ("b",)
    assert set(index.documents.articles) == {"a", "c"}
    assert all(p.article_id != "b" for p in every_passage(index))


def test_unchanged_articles_need_no_model(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    make_build(fake_settings, fake_encoder)([A, B])
    first = folder(fake_settings.index_dir)
    report = build(LocalStore(fake_settings.index_dir), [A, B], fake_settings, no_model)
    assert report.up_to_date
    assert folder(fake_settings.index_dir) == first
    renamed = make_article(
        A.text, Meta(id="a", title="A new title"), origin="a.txt", markdown=False
    )
    report = build(LocalStore(fake_settings.index_dir), [renamed, B], fake_settings, no_model)
    assert not report.up_to_date and report.embedded == 0
    assert opened(fake_settings.index_dir).documents.articles["a"].source.title == "A new title"


def test_old_versions_are_pruned_but_the_previous_one_kept(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    run = make_build(fake_settings, fake_encoder)
    keep = fake_settings.index_dir / "notes"
    keep.mkdir(parents=True)
    run([A])
    run([A, B])
    previous = folder(fake_settings.index_dir)
    run([A, B, C])
    current = folder(fake_settings.index_dir)
    assert {v.name for v in versions(fake_settings.index_dir)} == {previous.name, current.name}
    assert keep.is_dir()


def test_missing_index_says_to_run_qa_index(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match=r"no index in .*run `qa index`"):
        opened(tmp_path / "nowhere")


def test_model_mismatch_names_both_models(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    make_build(fake_settings, fake_encoder)([A])
    with pytest.raises(
        IndexMismatchError,
        match=r"built with the model 'test-hash-embedder'.*"
        r"uses 'other-model'.*Run `qa index`",
    ):
        opened(fake_settings.index_dir, model="other-model")


def test_an_index_built_by_another_encoder_is_refused(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    make_build(fake_settings, fake_encoder)([A])
    torch_settings = fake_settings.model_copy(update={"encoder": "torch"})
    with pytest.raises(
        IndexMismatchError,
        match=r"built with the hashing encoder, but this run uses the torch encoder.*"
        r"QA_ENCODER='hashing'",
    ):
        build(LocalStore(fake_settings.index_dir), [B], torch_settings, no_model, add=True)
    report = build(LocalStore(fake_settings.index_dir), [A], fake_settings, no_model)
    assert report.up_to_date  # the refused write left the index as it was


def test_dimension_mismatch_is_refused(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    make_build(fake_settings, fake_encoder)([A])
    index = opened(fake_settings.index_dir)
    with pytest.raises(IndexMismatchError, match=r"64-dimensional.*32-dimensional.*qa index"):
        Retriever(index, HashingEncoder(FAKE_MODEL, dimension=32), fake_settings)


def test_add_with_another_model_is_refused(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    make_build(fake_settings, fake_encoder)([A])
    other = fake_settings.model_copy(update={"model": "other-model"})
    with pytest.raises(IndexMismatchError, match="would mix vectors of two models"):
        build(
            LocalStore(other.index_dir), [B], other, lambda: HashingEncoder("other-model"), add=True
        )
    assert set(opened(fake_settings.index_dir).documents.articles) == {"a"}


def test_full_build_with_another_model_rebuilds_everything(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    make_build(fake_settings, fake_encoder)([A, B])
    other = fake_settings.model_copy(update={"model": "other-model"})
    embedder = HashingEncoder("other-model", dimension=32)
    report = build(LocalStore(other.index_dir), [A, B], other, lambda: embedder)
    assert report.embedded == report.passages
    assert any("rebuilding every article" in note for note in report.notes)
    assert opened(other.index_dir, model="other-model").manifest.dimension == 32


def test_add_without_an_index_explains_what_to_do(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    with pytest.raises(IndexMissingError, match=r"--add extends an existing index"):
        make_build(fake_settings, fake_encoder)([A], add=True)


def corrupt_manifest(version: Path) -> None:
    (version / MANIFEST).write_text("{not json")


def truncate_vectors(version: Path) -> None:
    data = (version / PASSAGE_VECTORS).read_bytes()
    (version / PASSAGE_VECTORS).write_bytes(data[: len(data) // 2])


def delete_store(version: Path) -> None:
    (version / STORE).unlink()


def drop_a_passage_row(version: Path) -> None:
    with sqlite3.connect(version / STORE) as db:
        db.execute("DELETE FROM passages WHERE id = (SELECT MIN(id) FROM passages)")


def point_nowhere(version: Path) -> None:
    (version.parent / CURRENT).write_text("v-20990101T000000-abcdef\n")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (corrupt_manifest, r"manifest cannot be read"),
        (truncate_vectors, r"is damaged"),
        (delete_store, r"store.sqlite in v-\S+ differ from the checksums"),
        (drop_a_passage_row, r"store.sqlite in v-\S+ differ from the checksums"),
        (point_nowhere, r"CURRENT names 'v-20990101T000000-abcdef', which is not there"),
    ],
)
def test_damaged_index_says_what_and_to_rebuild(
    fake_settings: Settings,
    fake_encoder: HashingEncoder,
    damage: Callable[[Path], None],
    message: str,
) -> None:
    make_build(fake_settings, fake_encoder)([A, B])
    damage(folder(fake_settings.index_dir))
    with pytest.raises(IndexCorruptError, match=message) as caught:
        opened(fake_settings.index_dir)
    assert "qa index" in str(caught.value)
    report = build(LocalStore(fake_settings.index_dir), [A, B], fake_settings, lambda: fake_encoder)
    # Rebuilt from what survived: the intact SQLite file, or the articles given.
    assert report.notes and any(
        words in report.notes[0]
        for words in ("rebuilding every article", "embedded again", "may need adding again")
    )
    assert set(opened(fake_settings.index_dir).documents.articles) == {"a", "b"}


def test_crash_while_writing_leaves_the_old_index_in_use(
    fake_settings: Settings, fake_encoder: HashingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_build(fake_settings, fake_encoder)
    run([A, B])
    old = opened(fake_settings.index_dir)

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("qa.store.local.vectors.write", crash)
    with pytest.raises(OSError, match="disk full"):
        run([C], add=True)
    assert not list(fake_settings.index_dir.glob(".build-*")), "the refused build is removed"
    again = opened(fake_settings.index_dir)
    assert again.version == old.version and set(again.documents.articles) == {"a", "b"}
    monkeypatch.undo()
    run([C], add=True)
    assert not list(fake_settings.index_dir.glob(".build-*"))
    assert set(opened(fake_settings.index_dir).documents.articles) == {"a", "b", "c"}


def test_killed_build_leaves_the_previous_index_usable(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    corpus = tmp_path / "many"
    corpus.mkdir()
    for n in range(60):
        (corpus / f"story-{n}.txt").write_text(
            "\n\n".join(
                f"Report {n} paragraph {p} says the negotiators met again on day {p}. "
                f"The {n}th delegation arrived late because of heavy snow. "
                "Officials declined to comment on the progress of the talks."
                for p in range(4)
            )
        )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_INDEX_DIR": str(index_dir)}
    first = qa_process("index", str(SEEDS), "--quiet", env={"QA_INDEX_DIR": str(index_dir)})
    assert first.returncode == 0, first.stderr
    before = opened(index_dir, model=DEFAULT_MODEL)

    process = subprocess.Popen(
        [sys.executable, "-m", "qa", "index", str(corpus), "--add"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + 240
    while "Embedding" not in seen and time.monotonic() < deadline:
        seen += process.stderr.read(1)
    assert "Embedding" in seen, seen
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stderr.close()

    after = opened(index_dir, model=DEFAULT_MODEL)
    assert after.version == before.version
    assert set(after.documents.articles) == set(before.documents.articles)
    query = np.ones((1, after.manifest.dimension), dtype=np.float32)
    assert after.passage_vectors.search(query, 3, Filters())[0]


def test_a_second_writer_waits_then_gives_up_clearly(
    fake_settings: Settings, fake_encoder: HashingEncoder
) -> None:
    fake_settings.index_dir.mkdir(parents=True)
    with open(fake_settings.index_dir / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(IndexBusyError, match="another qa process is writing"):
            make_build(fake_settings, fake_encoder)([A])
    make_build(fake_settings, fake_encoder)([A])
    assert set(opened(fake_settings.index_dir).documents.articles) == {"a"}


def test_seed_index_holds_every_seed_article(seed_index_dir: Path) -> None:
    index = opened(seed_index_dir, model=DEFAULT_MODEL)
    assert set(index.documents.articles) == {a.id for a in load([SEEDS]).articles}
    assert all(index.documents.passages_of(a) for a in index.documents.articles)
