"""Build, extend and update the index without losing what is already stored.

Every write makes a new version from the current one: articles whose cleaned text is
unchanged keep their passages, ids and vectors (nothing is re-embedded); new and
changed articles are split and embedded. The version is written aside and swapped in
by replacing CURRENT, under a lock, so readers never see half of a build.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.corpus.split import chunk
from qa.embed import Embedder, Vectors
from qa.errors import (
    IndexBusyError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    UnknownArticleError,
)
from qa.index import (
    CURRENT,
    FORMAT_VERSION,
    LEXICAL,
    MANIFEST,
    PASSAGE_VECTORS,
    SENTENCE_VECTORS,
    STORE,
    Index,
    Manifest,
    StoredPassage,
    open_index,
    versions,
    write_store,
    write_vectors,
)
from qa.lexical import Lexical
from qa.types import Article, Span

LOCK = ".lock"
BUILD_PREFIX = ".build-"


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a write changed, for the CLI to tell the user."""

    index_dir: Path
    articles: int
    passages: int
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    embedded: int = 0  # passages embedded in this write; the rest were reused
    up_to_date: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


def build(
    index_dir: Path,
    articles: Sequence[Article],
    settings: Settings,
    embedder: Callable[[], Embedder],
    *,
    add: bool = False,
    progress: bool = False,
) -> BuildReport:
    """Make the index hold ``articles`` (``add``: the indexed ones as well).

    ``embedder`` is called only when something needs embedding, so an up-to-date
    index is confirmed without loading the model.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    with _locked(index_dir, settings.lock_timeout):
        _remove_abandoned_builds(index_dir)
        old, notes = _previous(index_dir, settings, add=add)
        target = dict(old.articles) if add and old is not None else {}
        target.update((a.id, a) for a in articles)
        return _write(index_dir, target, old, settings, embedder, progress, notes)


def remove(
    index_dir: Path,
    article_ids: Sequence[str],
    settings: Settings,
    embedder: Callable[[], Embedder],
) -> BuildReport:
    """Take articles and their passages out of the index; the others are not re-embedded."""
    with _locked(index_dir, settings.lock_timeout):
        _remove_abandoned_builds(index_dir)
        old = open_index(index_dir, model=settings.model)
        unknown = [a for a in article_ids if a not in old.articles]
        if unknown:
            raise UnknownArticleError(
                f"no article with the id {unknown[0]!r} in the index; "
                "list the ids with `qa articles` (or GET /articles)"
            )
        target = {i: a for i, a in old.articles.items() if i not in set(article_ids)}
        return _write(index_dir, target, old, settings, embedder, False, [])


def _previous(index_dir: Path, settings: Settings, *, add: bool) -> tuple[Index | None, list[str]]:
    """The current version, if it can be built upon."""
    try:
        return open_index(index_dir, model=settings.model), []
    except IndexMissingError as exc:
        if add:
            raise IndexMissingError(
                f"{exc}. --add extends an existing index; without --add, `qa index PATH` "
                "builds one from PATH alone"
            ) from exc
        return None, []
    except IndexMismatchError as exc:
        if add:
            raise IndexMismatchError(
                f"cannot --add: {exc} Adding would mix vectors of two models."
            ) from exc
        return None, [f"rebuilding every article: {exc}"]
    except IndexCorruptError as exc:
        if add:
            raise
        return None, [f"rebuilding every article: {exc}"]


def _write(
    index_dir: Path,
    target: Mapping[str, Article],
    old: Index | None,
    settings: Settings,
    get_embedder: Callable[[], Embedder],
    progress: bool,
    notes: list[str],
) -> BuildReport:
    chunking = chunking_of(settings)
    reusable = old if old is not None and old.manifest.chunking == chunking else None
    plan = _Plan(reusable.manifest.next_id if reusable else 1)
    for article in target.values():
        before = reusable.articles.get(article.id) if reusable else None
        if reusable and before is not None and before.text_hash == article.text_hash:
            plan.reuse(article, reusable)
        else:
            plan.split(article, settings)

    old_articles = old.articles if old else {}
    if reusable and not plan.split_ids and _same(target, old_articles):
        return BuildReport(
            index_dir, len(target), len(plan.passages), up_to_date=True, notes=tuple(notes)
        )

    vectors, dimension = plan.vectors(reusable, get_embedder, settings, progress)
    manifest = Manifest(
        format=FORMAT_VERSION,
        model=settings.model,
        dimension=dimension,
        articles=len(target),
        passages=len(plan.passages),
        sentences=len(plan.sentences),
        built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        chunking=chunking,
        next_id=plan.next_id,
        versions=_library_versions(),
    )
    _publish(index_dir, settings, manifest, target, plan, vectors)
    return BuildReport(
        index_dir,
        len(target),
        len(plan.passages),
        added=tuple(a for a in target if a not in old_articles),
        updated=tuple(a for a in plan.split_ids if a in old_articles),
        removed=tuple(sorted(set(old_articles) - set(target))),
        embedded=len(plan.to_embed_passages),
        notes=tuple(notes),
    )


def chunking_of(settings: Settings) -> dict[str, int]:
    """The settings that shape passages and what is indexed of them; a change re-embeds."""
    return {
        "passage_sentences": settings.passage_sentences,
        "passage_max_chars": settings.passage_max_chars,
        "passage_title": int(settings.passage_title),
    }


def passage_input(article: Article, passage: StoredPassage, settings: Settings) -> str:
    """What is embedded and BM25-indexed for a passage: its text, maybe under its title."""
    text = article.text[passage.start : passage.end]
    title = article.source.title
    return f"{title}\n{text}" if settings.passage_title and title else text


def _same(new: Mapping[str, Article], old: Mapping[str, Article]) -> bool:
    """Same articles with the same text and metadata; where a file was read from may differ."""
    return new.keys() == old.keys() and all(
        (a.source, a.text) == (old[i].source, old[i].text) for i, a in new.items()
    )


class _Plan:
    """The passages and sentences of the new version, and which need embedding."""

    def __init__(self, next_id: int) -> None:
        self.next_id = next_id
        self.passages: list[StoredPassage] = []
        self.sentences: dict[int, tuple[str, Span]] = {}
        self.split_ids: list[str] = []
        self.to_embed_passages: list[tuple[int, str]] = []
        self.to_embed_sentences: list[tuple[int, str]] = []
        self.reused_passages: list[int] = []
        self.reused_sentences: list[int] = []

    def reuse(self, article: Article, old: Index) -> None:
        for passage in old.passages_of(article.id):
            self.passages.append(passage)
            self.reused_passages.append(passage.id)
            for sid in passage.sentence_ids:
                if sid not in self.sentences:
                    self.sentences[sid] = (article.id, old.sentences[sid])
                    self.reused_sentences.append(sid)

    def split(self, article: Article, settings: Settings) -> None:
        self.split_ids.append(article.id)
        chunks = chunk(
            article, max_sentences=settings.passage_sentences, max_chars=settings.passage_max_chars
        )
        first = self.next_id
        for offset, span in enumerate(chunks.sentences):
            self.sentences[first + offset] = (article.id, span)
            self.to_embed_sentences.append((first + offset, article.text[span.start : span.end]))
        self.next_id += len(chunks.sentences)
        for passage in chunks.passages:
            stored = StoredPassage(
                self.next_id,
                article.id,
                first + passage.first_sentence,
                first + passage.last_sentence,
                passage.start,
                passage.end,
            )
            self.passages.append(stored)
            self.to_embed_passages.append((stored.id, passage_input(article, stored, settings)))
            self.next_id += 1

    def vectors(
        self,
        old: Index | None,
        get_embedder: Callable[[], Embedder],
        settings: Settings,
        progress: bool,
    ) -> tuple[dict[str, tuple[list[int], Vectors]], int]:
        """Vectors for every passage and sentence: reused from ``old`` or embedded now."""
        texts = [t for _, t in self.to_embed_passages] + [t for _, t in self.to_embed_sentences]
        if texts or old is None:
            embedder = get_embedder()
            dimension = embedder.dimension
            label = (
                f"Embedding {len(self.to_embed_passages)} passages and "
                f"{len(self.to_embed_sentences)} sentences"
            )
            fresh = embedder.encode_documents(
                texts, batch_size=settings.batch_size, progress=label if progress else None
            )
        else:
            dimension = old.manifest.dimension
            fresh = np.zeros((0, dimension), dtype=np.float32)
        if old is not None and old.manifest.dimension != dimension:
            raise IndexMismatchError(
                f"the model {settings.model!r} makes {dimension}-dimensional vectors, the index "
                f"holds {old.manifest.dimension}-dimensional ones. Run `qa index` to rebuild it."
            )
        n = len(self.to_embed_passages)
        passage_ids = self.reused_passages + [i for i, _ in self.to_embed_passages]
        sentence_ids = self.reused_sentences + [i for i, _ in self.to_embed_sentences]
        reused_p = old.passage_vectors(self.reused_passages) if old else fresh[:0]
        reused_s = old.sentence_vectors(self.reused_sentences) if old else fresh[:0]
        return {
            PASSAGE_VECTORS: (passage_ids, np.vstack([reused_p, fresh[:n]])),
            SENTENCE_VECTORS: (sentence_ids, np.vstack([reused_s, fresh[n:]])),
        }, dimension


def _publish(
    index_dir: Path,
    settings: Settings,
    manifest: Manifest,
    articles: Mapping[str, Article],
    plan: _Plan,
    vectors: Mapping[str, tuple[list[int], Vectors]],
) -> None:
    """Write the version aside, then swap it in; keep the one before for open readers."""
    build = index_dir / f"{BUILD_PREFIX}{secrets.token_hex(4)}"
    build.mkdir()
    write_store(build / STORE, articles, plan.passages, plan.sentences)
    for name, (ids, matrix) in vectors.items():
        write_vectors(build / name, ids, matrix, manifest.dimension)
    texts = [passage_input(articles[p.article_id], p, settings) for p in plan.passages]
    Lexical.build(texts, [p.id for p in plan.passages]).save(build / LEXICAL)
    (build / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    for path in build.rglob("*"):
        _fsync(path)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    final = index_dir / f"v-{stamp}-{secrets.token_hex(3)}"
    pointer = index_dir / CURRENT
    previous = pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None
    os.rename(build, final)
    temporary = index_dir / f"{CURRENT}.tmp"
    temporary.write_text(final.name + "\n", encoding="utf-8")
    _fsync(temporary)
    os.replace(temporary, pointer)
    _fsync(index_dir)
    for version in versions(index_dir):
        if version.name not in (final.name, previous):
            shutil.rmtree(version, ignore_errors=True)


@contextlib.contextmanager
def _locked(index_dir: Path, timeout: float) -> Iterator[None]:
    """One writer at a time per index folder, across processes."""
    with open(index_dir / LOCK, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexBusyError(
                        f"another qa process is writing the index in {index_dir}; "
                        "try again when it has finished"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_abandoned_builds(index_dir: Path) -> None:
    """Builds left by a killed writer; safe to remove while holding the lock."""
    for path in index_dir.glob(f"{BUILD_PREFIX}*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _library_versions() -> dict[str, str]:
    out = {}
    for name in ("qa", "faiss-cpu", "sentence-transformers", "torch"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out
