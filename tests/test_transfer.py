"""`qa import` of a file larger than one batch, into both stores: written a batch at a
time, visible only once whole, and a bad line named with nothing imported.

(Moving the seed index to Milvus + PostgreSQL and back is in test_remote_store.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from qa.cli import main as cli_main
from qa.config import Settings, get_settings
from qa.errors import InputError
from qa.store import Store, get_store
from qa.store.base import NewArticle
from qa.store.local import LocalStore
from qa.store.remote import RemoteStore
from qa.transfer import ExportFile, batches, export, write
from tests.conftest import STORES, seed_copy_for, store_environment
from tests.exports import repeated

COPIES = 8  # of the five seed articles: 40 articles, a few dozen batches
BATCH = 120_000  # bytes of text and vectors a batch holds: an article or two of the seeds


@pytest.fixture(scope="module")
def seed_export(tmp_path_factory: pytest.TempPathFactory, seed_index_dir: Path) -> Path:
    path = tmp_path_factory.mktemp("export") / "seeds.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        export(LocalStore(seed_index_dir).open(), out)
    return path


@pytest.fixture(scope="module")
def large_export(seed_export: Path) -> Path:
    return repeated(seed_export, COPIES, seed_export.with_name("large.jsonl"))


@pytest.fixture(params=STORES)
def target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A store of each kind holding the seed index, named by the environment as `qa
    import` reads it."""
    settings = seed_copy_for(request, request.param)
    for name, value in store_environment(settings).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield settings


def _pending(store: Store) -> int:
    """Articles written but not yet visible (the remote store's pending rows; the local
    store keeps them in a folder of its own until it is published)."""
    return len(store.postgres.leftovers()) if isinstance(store, RemoteStore) else 0


def test_an_import_is_written_batch_by_batch_and_seen_only_once_whole(
    target: Settings, seed_export: Path, large_export: Path
) -> None:
    source = ExportFile(large_export)
    assert source.check() == 5 * COPIES
    store, reader = get_store(target), get_store(target)
    try:
        before = reader.current_version()
        sizes: list[int] = []

        def watched(runs: Iterable[list[NewArticle]]) -> Iterator[list[NewArticle]]:
            for run in runs:
                # The batches before this one are in the store, and none is visible.
                if isinstance(reader, RemoteStore):
                    assert _pending(reader) == sum(sizes)
                assert reader.current_version() == before
                assert len(reader.open().documents.articles) == 5
                sizes.append(len(run))
                yield run

        with store.writing():
            manifest = store.write_all(source.manifest, watched(batches(source.articles(), BATCH)))
        assert len(sizes) >= 20 and max(sizes) <= 3 and sum(sizes) == 5 * COPIES
        seed_passages = ExportFile(seed_export).manifest.passages
        assert (manifest.articles, manifest.passages) == (5 * COPIES, COPIES * seed_passages)
        snapshot = reader.open()
        assert snapshot.version != before and _pending(reader) == 0
        assert snapshot.manifest == manifest
        for new in ExportFile(large_export).articles():  # ids may differ: the seeds held them
            assert snapshot.documents.articles[new.article.id] == new.article
            stored = snapshot.documents.passages_of(new.article.id)
            spans = [(p.start, p.end) for p in stored]
            assert spans == [(p.start, p.end) for p in new.passages]
            vectors = snapshot.passage_vectors.vectors([p.id for p in stored])
            assert (vectors == new.passage_vectors).all()
    finally:
        store.close()
        reader.close()


def _bad_line(large: Path, tmp_path: Path, number: int, text: str) -> Path:
    lines = large.read_text(encoding="utf-8").splitlines()
    lines[number - 1] = text
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_bad_line_late_in_the_file_is_named_and_nothing_is_imported(
    target: Settings,
    large_export: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    last = 1 + 5 * COPIES
    good = large_export.read_text(encoding="utf-8").splitlines()[last - 1]
    bad = _bad_line(large_export, tmp_path, last, good[: len(good) // 2])  # cut off
    store = get_store(target)
    try:
        before = store.current_version()
        assert cli_main(["import", str(bad)]) == 1
        err = capsys.readouterr().err
        assert f"{bad}, line {last}: " in err and "nothing was imported" in err
        assert store.current_version() == before and _pending(store) == 0
    finally:
        store.close()


def test_a_file_that_turns_bad_while_it_is_written_leaves_the_store_as_it_was(
    target: Settings, large_export: Path, tmp_path: Path
) -> None:
    bad = _bad_line(large_export, tmp_path, 30, "{not json")
    source = ExportFile(bad)  # its check is skipped: as if the file changed after it
    store = get_store(target)
    try:
        before = store.current_version()
        with pytest.raises(InputError, match=r"line 30: .*nothing was imported"):
            write(store, source.manifest, source.articles(), batch_bytes=BATCH)
        assert store.current_version() == before and _pending(store) == 0
        assert len(store.open().documents.articles) == 5
        if isinstance(store, LocalStore):  # no half-written version folder is left
            assert not [p for p in target.index_dir.iterdir() if p.name.startswith(".build-")]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("line", "change", "says"),
    [
        (7, lambda record: record, "article '000_771180aa20e17e84-0' is there already on line 2"),
        (
            9,
            lambda record: {**record, "source": {**record["source"], "article_id": "other"}},
            "passage id",
        ),
        (12, None, "not UTF-8"),
    ],
)
def test_a_file_that_repeats_an_id_or_is_not_text_is_refused_by_its_line(
    large_export: Path, tmp_path: Path, line: int, change: object, says: str
) -> None:
    lines = large_export.read_bytes().splitlines()
    if change is None:
        lines[line - 1] = lines[line - 1][:50] + b"\xff" + lines[line - 1][50:]
    else:
        lines[line - 1] = json.dumps(change(json.loads(lines[1]))).encode()  # type: ignore[operator]
    path = tmp_path / "repeats.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(InputError) as raised:
        ExportFile(path).check()
    assert f"{path}, line {line}: " in str(raised.value)
    assert says in str(raised.value)


def test_a_file_cut_off_between_two_lines_is_refused(large_export: Path, tmp_path: Path) -> None:
    lines = large_export.read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "cut.jsonl"
    path.write_text("".join(lines[:-3]), encoding="utf-8")
    with pytest.raises(InputError, match=r"holds 37 articles, .* its header \(line 1\) 40, "):
        ExportFile(path).check()
