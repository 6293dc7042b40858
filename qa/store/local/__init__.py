"""The default store: one folder on disk, FAISS + bm25s + SQLite, in immutable versions.

Each version folder holds ``manifest.json``, ``store.sqlite`` (the documents),
``passages.faiss`` and ``sentences.faiss`` (vectors; FAISS ids are qa's ids) and
``bm25/``; see ``versions`` for how versions are written and published.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from qa.errors import IndexCorruptError, IndexMismatchError, IndexUnusableError
from qa.integrity import damaged_files
from qa.store.admission import Admission
from qa.store.base import Changes, NewArticle, Snapshot, Store, WriteLock, indexed_text
from qa.store.local import documents, vectors, versions
from qa.store.local.documents import SqliteDocuments
from qa.store.local.lexical import Bm25Lexical
from qa.store.local.vectors import FaissVectors, Layout
from qa.store.manifest import FORMAT_VERSION, REBUILD_HINT, Manifest
from qa.types import Article

STORE = "store.sqlite"
PASSAGE_VECTORS = "passages.faiss"
SENTENCE_VECTORS = "sentences.faiss"
LEXICAL = "bm25"
CHECKPOINTS = ".embedded"  # a build's embedded batches, until it is published
PASSAGE_INDEX = "passage_index"  # the manifest's record of the passage vectors' Layout


class LocalStore(Store):
    """An index folder; a snapshot is one version, loaded into memory."""

    def __init__(
        self,
        index_dir: Path,
        lock_timeout: float = 60.0,
        *,
        exact_max: int = vectors.EXACT_MAX,
        nprobe: int = vectors.NPROBE,
        sentence_codes: vectors.Codes = vectors.SENTENCE_CODES,
    ) -> None:
        self.index_dir = index_dir
        self.location = str(index_dir)
        self.lock_timeout = lock_timeout
        self.exact_max = exact_max  # passages searched exactly; past it, IVF
        self.nprobe = nprobe
        self.sentence_codes = sentence_codes  # of a sentence index made anew
        self._last: Snapshot | None = None  # the snapshot last opened, reused by writes

    def current_version(self) -> str | None:
        return versions.current_name(self.index_dir)

    def open(self) -> Snapshot:
        """Load the current version, checking it whole; errors say to run `qa index`."""
        folder = versions.current_version(self.index_dir)
        last = self._last
        if last is not None and last.version == folder.name:
            return last
        snapshot = self._open(folder)
        self._last = snapshot
        return snapshot

    def last_good(self) -> Snapshot | None:
        """The newest version, other than the one CURRENT names, that opens whole."""
        current = versions.current_name(self.index_dir)
        older = sorted(
            (v for v in versions.versions(self.index_dir) if v.name != current),
            key=lambda v: (v.name[:17], v.stat().st_mtime_ns),
            reverse=True,
        )
        for folder in older:
            try:
                return self._open(folder)
            except IndexUnusableError:
                continue
        return None

    def saved_articles(self) -> dict[str, Article] | None:
        """The current version's articles, if its SQLite file passes its checksum."""
        name = versions.current_name(self.index_dir)
        folder = self.index_dir / name if name else None
        if folder is None or not (folder / STORE).is_file() or STORE in damaged_files(folder):
            return None
        try:
            return dict(SqliteDocuments.read(folder / STORE).articles)
        except (sqlite3.Error, OSError, KeyError, ValueError):
            return None

    def _open(self, folder: Path) -> Snapshot:
        manifest = read_manifest(folder)
        if damaged := damaged_files(folder):
            raise IndexCorruptError(
                f"the index in {self.index_dir} is damaged: {', '.join(damaged)} in "
                f"{folder.name} differ from the checksums written with them. {REBUILD_HINT}."
            )
        try:
            docs = SqliteDocuments.read(folder / STORE)
            admission = Admission(
                docs.sources, docs.passage_id_array(), docs.passage_article_codes()
            )
            passage_vectors = FaissVectors.read(folder / PASSAGE_VECTORS, admission, self.nprobe)
            sentence_vectors = FaissVectors.read(folder / SENTENCE_VECTORS)
            lexical = Bm25Lexical.load(folder / LEXICAL, admission)
        except (OSError, RuntimeError, sqlite3.Error, ValueError, KeyError) as exc:
            raise IndexCorruptError(
                f"the index in {self.index_dir} is damaged ({_short(exc)}). {REBUILD_HINT}."
            ) from exc
        counts = {
            "articles": (len(docs.articles), manifest.articles),
            "passages": (docs.passage_count(), manifest.passages),
            "passage vectors": (passage_vectors.size, manifest.passages),
            "sentences": (docs.sentence_count(), manifest.sentences),
            "sentence vectors": (sentence_vectors.size, manifest.sentences),
            "dimension": (passage_vectors.dimension, manifest.dimension),
            "BM25 passages": (lexical.size, manifest.passages),
        }
        for what, (found, expected) in counts.items():
            if found != expected:
                raise IndexCorruptError(
                    f"the index in {self.index_dir} is damaged: the manifest says {expected} "
                    f"{what}, the files hold {found}. {REBUILD_HINT}."
                )
        return Snapshot(folder.name, manifest, docs, passage_vectors, sentence_vectors, lexical)

    def writing(self) -> WriteLock:
        return versions.locked(self.index_dir, self.lock_timeout)  # type: ignore[return-value]

    def write(self, changes: Changes) -> None:
        """A new version: the current one (unless ``fresh``) with ``changes``, published."""
        old = None if changes.fresh else self.open()
        previous = None if old is None else self.index_dir / old.version
        build = versions.new_build(self.index_dir)
        try:
            self._write(changes, old, previous, build)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)  # a full disk gets its space back
            raise

    def _write(
        self, changes: Changes, old: Snapshot | None, previous: Path | None, build: Path
    ) -> None:
        documents.write(build / STORE, previous and previous / STORE, changes)
        docs = SqliteDocuments.read(build / STORE)
        gone = set(changes.deletes) | {n.article.id for n in changes.upserts}
        removed_passages = (
            [] if old is None else [p.id for a in gone for p in old.documents.passages_of(a)]
        )
        removed_sentences = (
            []
            if old is None
            else [s for a in gone for p in old.documents.passages_of(a) for s in p.sentence_ids]
        )
        dimension = changes.manifest.dimension
        layout, remake = self._layout(old, changes, docs.passage_count())
        vectors.write(
            build / PASSAGE_VECTORS,
            previous and previous / PASSAGE_VECTORS,
            dimension,
            removed_passages,
            [p.id for n in changes.upserts for p in n.passages],
            [n.passage_vectors for n in changes.upserts],
            layout=layout if remake else None,
        )
        vectors.write(
            build / SENTENCE_VECTORS,
            previous and previous / SENTENCE_VECTORS,
            dimension,
            sorted(set(removed_sentences)),
            [sid for n in changes.upserts for sid, _ in n.sentences],
            [n.sentence_vectors for n in changes.upserts],
            codes=self.sentence_codes,
        )
        self._publish(build, changes.manifest, docs, layout)

    def write_all(self, manifest: Manifest, batches: Iterable[Sequence[NewArticle]]) -> Manifest:
        """A new version holding just these: documents and vectors go to disk batch by
        batch, and the version is published once all are in."""
        build = versions.new_build(self.index_dir)
        dimension = manifest.dimension
        passages = vectors.Spool(build / "passages.spool", dimension)
        sentences = vectors.Spool(build / "sentences.spool", dimension)
        try:
            for batch in batches:
                documents.append(build / STORE, batch)
                passages.add(
                    [p.id for n in batch for p in n.passages], [n.passage_vectors for n in batch]
                )
                sentences.add(
                    [i for n in batch for i, _ in n.sentences], [n.sentence_vectors for n in batch]
                )
            documents.append(build / STORE, ())  # an import of no articles: an empty index
            docs = SqliteDocuments.read(build / STORE)
            layout = vectors.layout_for(docs.passage_count(), self.exact_max)
            made: list[tuple[vectors.Spool, str, Layout | None, vectors.Codes]] = [
                (passages, PASSAGE_VECTORS, layout, "float32"),
                (sentences, SENTENCE_VECTORS, None, self.sentence_codes),
            ]
            for spool, name, kind, codes in made:
                vectors.write(
                    build / name,
                    None,
                    dimension,
                    (),
                    spool.ids,
                    spool.vectors(),
                    layout=kind,
                    codes=codes,
                )
                spool.remove()
            return self._publish(build, manifest, docs, layout)
        except BaseException:
            passages.remove()
            sentences.remove()
            shutil.rmtree(build, ignore_errors=True)
            raise

    def _publish(
        self, build: Path, manifest: Manifest, docs: SqliteDocuments, layout: Layout
    ) -> Manifest:
        """The lexical index and the manifest of a written build, then the build as the
        current version."""
        ids = sorted(docs.passage_ids())
        title = manifest.passage_title()
        texts = (  # read one at a time as BM25 takes them
            indexed_text(docs.articles[p.article_id], p, title=title)
            for p in map(docs.passage, ids)
        )
        Bm25Lexical.build(texts, ids).save(build / LEXICAL)
        written = dataclasses.replace(
            manifest,
            articles=len(docs.articles),
            passages=docs.passage_count(),
            sentences=docs.sentence_count(),
            extra={**manifest.extra, PASSAGE_INDEX: layout.to_dict()},
        )
        (build / versions.MANIFEST).write_text(written.to_json(), encoding="utf-8")
        versions.publish(self.index_dir, build)
        return written

    def checkpoint_dir(self, cache_dir: Path) -> Path:
        return self.index_dir / CHECKPOINTS

    def describe(self, snapshot: Snapshot) -> dict[str, object]:
        """Adds the passage vectors' layout, the version's bytes on disk, and whether
        `qa index --rebuild` is due."""
        layout = layout_of(snapshot.manifest)
        folder = self.index_dir / snapshot.version
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        due = layout.retrain_due(snapshot.manifest.passages, self.exact_max)
        search = "exact" if layout.kind == "flat" else f"IVF, {layout.nlist} cells"
        return {
            **super().describe(snapshot),
            "passage search": search
            + ("" if layout.kind == "flat" else f", trained on {layout.trained_on:,} passages")
            + ("" if layout.kind == "flat" else f", {self.nprobe} visited per search"),
            "exact search up to": self.exact_max,
            "sentence vectors": getattr(snapshot.sentence_vectors, "codes", "float32"),
            "bytes on disk": size,
            "rebuild due": due or "no",
        }

    def _layout(self, old: Snapshot | None, changes: Changes, size: int) -> tuple[Layout, bool]:
        """The passage vectors' layout after ``changes``, and whether to make it anew:
        on a rebuild, and once when an exact index grows past ``exact_max``."""
        before = None if old is None else layout_of(old.manifest)
        if before is None or changes.retrain or (before.kind == "flat" and size > self.exact_max):
            return vectors.layout_for(size, self.exact_max), True
        return before, False


def layout_of(manifest: Manifest) -> Layout:
    """How an index's passage vectors are searched (flat for indexes from before IVF)."""
    return Layout.from_dict(manifest.extra.get(PASSAGE_INDEX))


def read_manifest(folder: Path) -> Manifest:
    index_dir = folder.parent
    try:
        manifest = Manifest.from_json((folder / versions.MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(
            f"the index in {index_dir} is damaged: its manifest cannot be read ({exc}). "
            f"{REBUILD_HINT}."
        ) from exc
    if manifest.format != FORMAT_VERSION:
        raise IndexMismatchError(
            f"the index in {index_dir} has format {manifest.format}, this qa reads format "
            f"{FORMAT_VERSION}. {REBUILD_HINT}."
        )
    return manifest


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:200]
