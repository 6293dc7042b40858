"""Build, extend and update an index without losing what is already stored.

Every write starts from the store's current state: articles whose cleaned text is
unchanged keep their passages, ids and vectors (nothing is re-embedded); new and
changed articles are split and embedded. The store applies the write whole, under its
lock, so readers never see half of a build.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import multiprocessing
import os
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from qa import sentence_vectors
from qa.checkpoints import Checkpoints
from qa.config import Settings
from qa.corpus.split import chunk
from qa.encoders import Encoder, Vectors
from qa.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, UnknownArticleError
from qa.failures import writing
from qa.recovery import recover
from qa.sentence_vectors import Member
from qa.store import Changes, Manifest, NewArticle, Snapshot, Store, StoredPassage, check_encoder
from qa.store.base import indexed_text
from qa.store.manifest import FORMAT_VERSION
from qa.types import Article, Chunks, Passage, Source, Span


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a write changed, for the CLI to tell the user."""

    location: str
    articles: int
    passages: int
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    embedded: int = 0  # passages embedded in this write; the rest were reused
    up_to_date: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


def build(
    store: Store,
    articles: Sequence[Article],
    settings: Settings,
    encoder: Callable[[], Encoder],
    *,
    add: bool = False,
    retrain: bool = False,
    progress: bool = False,
) -> BuildReport:
    """Make the index hold ``articles`` (``add``: the indexed ones as well).

    ``encoder`` is called only when something needs embedding, so an up-to-date
    index is confirmed without loading the model. ``retrain`` remakes the store's
    search structures from the stored vectors even when nothing else changes.
    """
    with writing(store.location), store.writing():
        old, kept, notes = _previous(store, settings, add=add)
        new = {a.id: a for a in articles}
        return _write(
            store,
            new,
            kept if add else {},
            old,
            settings,
            encoder,
            progress,
            notes,
            retrain=retrain,
        )


def remove(
    store: Store, article_ids: Sequence[str], settings: Settings, encoder: Callable[[], Encoder]
) -> BuildReport:
    """Take articles and their passages out of the index; the others are not re-embedded."""
    with writing(store.location), store.writing():
        old, kept, notes = _previous(store, settings, add=True)
        unknown = [a for a in article_ids if a not in kept]
        if unknown:
            raise UnknownArticleError(
                f"no article with the id {unknown[0]!r} in the index; "
                "list the ids with `qa articles` (or GET /articles)"
            )
        return _write(
            store, {}, kept, old, settings, encoder, False, notes, drop=frozenset(article_ids)
        )


def _previous(
    store: Store, settings: Settings, *, add: bool
) -> tuple[Snapshot | None, Mapping[str, Article], list[str]]:
    """The state to build on, the articles the index holds, and notes for the user.

    A damaged current state is rebuilt from what can be saved (``qa.recovery``).
    """
    try:
        old = store.open()
        check_encoder(old.manifest, store.location, settings.encoder, settings.model)
        return old, old.documents.articles, []
    except IndexMissingError as exc:
        if add:
            raise IndexMissingError(
                f"{exc}. --add extends an existing index; without --add, `qa index PATH` "
                "builds one from PATH alone"
            ) from exc
        return None, {}, []
    except IndexMismatchError as exc:
        if add:
            raise IndexMismatchError(
                f"cannot --add: {exc} Adding would mix vectors of two models."
            ) from exc
        return None, {}, [f"rebuilding every article: {exc}"]
    except IndexCorruptError as exc:
        recovered = recover(store, exc)
        if recovered is None:
            if add:
                raise
            return None, {}, [f"rebuilding every article: {exc}"]
        return None, recovered.articles, [recovered.note]


def _write(
    store: Store,
    new: Mapping[str, Article],
    kept: Mapping[str, Article],
    old: Snapshot | None,
    settings: Settings,
    get_encoder: Callable[[], Encoder],
    progress: bool,
    notes: list[str],
    *,
    retrain: bool = False,
    drop: frozenset[str] = frozenset(),
) -> BuildReport:
    """Write ``new`` (added, replaced or unchanged) beside the ``kept`` articles, less
    ``drop``. Only the ids of ``kept`` are read, unless the index must be made anew, so
    adding one article to a large index reads no other article's text."""
    chunking = chunking_of(settings)
    base = old if old is not None and old.manifest.chunking == chunking else None
    if base is None:  # every article is split and embedded again
        new = {**{i: kept[i] for i in kept if i not in drop}, **new}
        kept = {}
    keep = {i for i in kept if i not in new and i not in drop}
    before = base.documents.articles if base is not None else {}
    same = {i for i, a in new.items() if i in before and before[i].text_hash == a.text_hash}
    to_split = [a for i, a in new.items() if i not in same]
    relabelled = tuple(new[i] for i in sorted(same) if not _same(new[i], before[i]))
    target = keep | set(new)
    deletes = tuple(sorted(i for i in before if i not in target))
    old_articles = old.documents.articles if old is not None else {}
    passages = 0
    if base is not None:
        gone = set(deletes) | {a.id for a in to_split if a.id in before}
        passages = base.manifest.passages - sum(len(base.documents.passages_of(i)) for i in gone)
    if base is not None and not to_split and not relabelled and not deletes and not retrain:
        return BuildReport(
            store.location, len(target), passages, up_to_date=True, notes=tuple(notes)
        )
    plan = _Plan(base.manifest.next_id if base is not None else 1, settings)
    for chunks in split_all(to_split, settings):
        plan.add(chunks)
    checkpoints = Checkpoints(store.checkpoint_dir(settings.cache_dir))
    batches, dimension = plan.embedded(base, get_encoder, settings, progress, checkpoints)
    manifest = Manifest(
        format=FORMAT_VERSION,
        model=settings.model,
        encoder=settings.encoder,
        dimension=dimension,
        articles=len(target),
        passages=passages + plan.passages,
        sentences=0,  # counted by the store once written
        built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        chunking=chunking,
        next_id=plan.next_id,
        versions=_library_versions(),
    )
    if base is None:  # a batch at a time: a build from scratch holds no more than that
        store.write_all(manifest, batches)
    else:
        upserts = tuple(new for batch in batches for new in batch)
        store.write(Changes(manifest, upserts, relabelled, deletes, retrain=retrain))
    checkpoints.clear()
    return BuildReport(
        store.location,
        len(target),
        manifest.passages,
        added=tuple(i for i in new if i not in old_articles),
        updated=tuple(a.id for a in to_split if a.id in old_articles),
        removed=tuple(sorted(i for i in old_articles if i not in target)),
        embedded=plan.passages,
        notes=tuple(notes),
    )


PARALLEL_SPLIT = 2000  # articles from which splitting is spread over every core


def split_all(articles: Sequence[Article], settings: Settings) -> Iterator[Chunks]:
    """Each article's sentences and passages, in order. Splitting sentences (syntok, pure
    Python) is most of a build's time besides the model, so a large build spreads it
    over every core."""
    limits = (settings.passage_sentences, settings.passage_max_chars)
    workers = os.cpu_count() or 1
    if len(articles) < PARALLEL_SPLIT or workers == 1:
        for article in articles:
            yield _chunk(article, *limits)
        return
    # forkserver: a fork of this process (which may run the model's threads) is unsafe.
    context = multiprocessing.get_context("forkserver")
    with context.Pool(workers) as pool:
        work = ((a.text, *limits) for a in articles)
        for article, (sentences, passages) in zip(
            articles, pool.imap(_split_text, work, chunksize=64), strict=True
        ):
            yield Chunks(article, sentences, passages)


def _chunk(article: Article, max_sentences: int, max_chars: int) -> Chunks:
    return chunk(article, max_sentences=max_sentences, max_chars=max_chars)


def _split_text(work: tuple[str, int, int]) -> tuple[tuple[Span, ...], tuple[Passage, ...]]:
    text, max_sentences, max_chars = work
    chunks = _chunk(Article(Source("-"), text), max_sentences, max_chars)
    return chunks.sentences, chunks.passages


def chunking_of(settings: Settings) -> dict[str, int]:
    """The settings that shape passages and what is indexed of them; a change re-embeds."""
    out = {
        "passage_sentences": settings.passage_sentences,
        "passage_max_chars": settings.passage_max_chars,
        "passage_title": int(settings.passage_title),
    }
    if settings.sentence_vectors == "pooled":  # indexes from before it had a name: separate
        out["sentences_pooled"] = 1
    return out


def _same(new: Article, old: Article) -> bool:
    """Same text and metadata; where a file was read from may differ."""
    return (new.source, new.text) == (old.source, old.text)


class _Plan:
    """The passages and sentences of the articles to (re)embed, with fresh ids.

    Kept as flat arrays of offsets, a few bytes a sentence, not as texts and objects: a
    batch's texts, passages and sentences are made when the batch is embedded or
    written, so a build of a million passages holds its articles and little more.
    """

    def __init__(self, next_id: int, settings: Settings) -> None:
        self.next_id = next_id
        self.title = settings.passage_title
        self.articles: list[Article] = []
        self.first_ids = array("q")  # each article's first id: its sentences', then passages'
        self.sentence_rows = array("q", [0])  # each article's first sentence row, and the end
        self.passage_rows = array("q", [0])
        self.spans = array("q")  # each sentence's start and end
        # each passage's start, end, first and last sentence (of its article)
        self.cuts = array("q")

    @property
    def passages(self) -> int:
        return self.passage_rows[-1]

    @property
    def sentences(self) -> int:
        return self.sentence_rows[-1]

    def add(self, chunks: Chunks) -> None:
        self.articles.append(chunks.article)
        self.first_ids.append(self.next_id)
        for span in chunks.sentences:
            self.spans.extend((span.start, span.end))
        for p in chunks.passages:
            self.cuts.extend((p.start, p.end, p.first_sentence, p.last_sentence))
        self.sentence_rows.append(self.sentence_rows[-1] + len(chunks.sentences))
        self.passage_rows.append(self.passage_rows[-1] + len(chunks.passages))
        self.next_id += len(chunks.sentences) + len(chunks.passages)

    def _made(self, batch: _Batch) -> _Made:
        """A batch's articles with their passages and sentences, and what is embedded."""
        made = _Made()
        for a in range(batch.first, batch.last):
            article, first = self.articles[a], self.first_ids[a]
            s0, s1 = self.sentence_rows[a], self.sentence_rows[a + 1]
            spans = [Span(self.spans[2 * r], self.spans[2 * r + 1]) for r in range(s0, s1)]
            row = s0 - batch.s0  # the article's first sentence among the batch's
            made.sentence_texts += [article.text[s.start : s.end] for s in spans]
            stored_passages = []
            for n, j in enumerate(range(self.passage_rows[a], self.passage_rows[a + 1])):
                start, end, low, high = self.cuts[4 * j : 4 * j + 4]
                stored = StoredPassage(
                    first + len(spans) + n, article.id, first + low, first + high, start, end
                )
                text = indexed_text(article, stored, title=self.title)
                shift = len(text) - (end - start) - start  # the title
                made.texts.append(text)
                made.members.append(
                    [
                        Member(row + i, spans[i].start + shift, spans[i].end + shift)
                        for i in range(low, high + 1)
                    ]
                )
                stored_passages.append(stored)
            made.articles.append(
                (article, stored_passages, [(first + i, s) for i, s in enumerate(spans)])
            )
        return made

    def embedded(
        self,
        base: Snapshot | None,
        get_encoder: Callable[[], Encoder],
        settings: Settings,
        progress: bool,
        checkpoints: Checkpoints,
    ) -> tuple[Iterator[list[NewArticle]], int]:
        """The articles with their vectors, a batch at a time as they are embedded, and
        the vectors' dimension.

        Each batch of whole articles is saved in ``checkpoints`` before the next is
        embedded, so a build stopped part-way embeds only what it had not done.
        """
        batches = self._batches()
        keys = [self._key(batch, settings) for batch in batches]
        found = [
            checkpoints.load(key, b.passages, b.sentences)
            for key, b in zip(keys, batches, strict=True)
        ]
        # The model is loaded first, so that an error loading it comes before any bar.
        needed = any(f is None for f in found) or (base is None and not batches)
        encoder = get_encoder() if needed else None
        if encoder is not None:
            dimension = encoder.dimension
        elif found and found[0] is not None:
            dimension = int(found[0][0].shape[1])
        else:
            dimension = base.manifest.dimension if base is not None else 0
        if base is not None and base.manifest.dimension != dimension:
            raise IndexMismatchError(
                f"the model {settings.model!r} makes {dimension}-dimensional vectors, the index "
                f"holds {base.manifest.dimension}-dimensional ones. Run `qa index` to rebuild it."
            )

        def stream() -> Iterator[list[NewArticle]]:
            bar = _bar(
                progress,
                self.passages,
                sum(b.passages for b, f in zip(batches, found, strict=True) if f),
                self.sentences,
            )
            try:
                for batch, key, saved in zip(batches, keys, found, strict=True):
                    made = self._made(batch)
                    if saved is None:
                        assert encoder is not None
                        vectors = _embed(made, encoder, settings)
                        checkpoints.save(key, *vectors)
                        saved = checkpoints.load(key, batch.passages, batch.sentences) or vectors
                        if bar is not None:
                            bar.update(batch.passages)
                    yield _stored(made, saved)
            finally:  # a stopped build leaves its terminal line whole
                if bar is not None:
                    bar.close()

        return stream(), dimension

    def _batches(self) -> list[_Batch]:
        """Runs of whole articles of about ``BATCH_PASSAGES`` passages each."""
        out: list[_Batch] = []
        first = 0
        for a in range(len(self.articles)):
            grown = self.passage_rows[a + 1] - self.passage_rows[first]
            if grown >= BATCH_PASSAGES or a == len(self.articles) - 1:
                rows = self.passage_rows[first], self.passage_rows[a + 1]
                out.append(
                    _Batch(
                        first, a + 1, *rows, self.sentence_rows[first], self.sentence_rows[a + 1]
                    )
                )
                first = a + 1
        return out

    def _key(self, batch: _Batch, settings: Settings) -> str:
        """Names a batch by everything its vectors depend on."""
        made = self._made(batch)
        head = [settings.encoder, settings.model, settings.sentence_vectors]
        head.append(json.dumps(chunking_of(settings), sort_keys=True))
        parts = [*head, *made.texts, "", *made.sentence_texts]
        parts += [str(m.start) + ":" + str(m.end) for g in made.members for m in g]
        return Checkpoints.key(parts)


BATCH_PASSAGES = 2048  # passages per saved batch: what a stopped build may lose


@dataclass(frozen=True, slots=True)
class _Batch:
    """Articles ``first:last`` of a plan, with their passages ``p0:p1`` and sentences
    ``s0:s1``."""

    first: int
    last: int
    p0: int
    p1: int
    s0: int
    s1: int

    @property
    def passages(self) -> int:
        return self.p1 - self.p0

    @property
    def sentences(self) -> int:
        return self.s1 - self.s0


@dataclass(slots=True)
class _Made:
    """One batch made whole: its articles with their passages and sentences, and the
    passage texts, their sentences within them, and the sentence texts to embed."""

    articles: list[tuple[Article, list[StoredPassage], list[tuple[int, Span]]]] = field(
        default_factory=list
    )
    texts: list[str] = field(default_factory=list)
    members: list[list[Member]] = field(default_factory=list)
    sentence_texts: list[str] = field(default_factory=list)


def _embed(made: _Made, encoder: Encoder, settings: Settings) -> tuple[Vectors, Vectors]:
    return sentence_vectors.embed(
        encoder,
        made.texts,
        made.members,
        made.sentence_texts,
        method=settings.sentence_vectors,
        batch_size=settings.batch_size,
        progress=None,
    )


def _stored(made: _Made, vectors: tuple[Vectors, Vectors]) -> list[NewArticle]:
    """A batch's articles with their rows of the batch's vectors."""
    passage_rows, sentence_rows = vectors
    out = []
    p = s = 0
    for article, passages, sentences in made.articles:
        out.append(
            NewArticle(
                article,
                tuple(passages),
                tuple(sentences),
                passage_rows[p : p + len(passages)],
                sentence_rows[s : s + len(sentences)],
            )
        )
        p, s = p + len(passages), s + len(sentences)
    return out


def _bar(progress: bool, passages: int, done: int, sentences: int) -> Any:
    """A progress bar of passages embedded (with their sentences): rate and time left."""
    if not progress or passages == done:
        return None
    from tqdm import tqdm

    label = f"Embedding {passages} passages and {sentences} sentences"
    return tqdm(total=passages, initial=done, desc=label, unit="passage")


def _library_versions() -> dict[str, str]:
    out = {}
    for name in ("qa", "faiss-cpu", "sentence-transformers", "torch", "onnxruntime"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out
