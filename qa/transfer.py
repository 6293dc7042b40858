"""Moving an index between stores without embedding again: `qa export` and `qa import`.

The file is JSON Lines: a header with the manifest, then one line per article with its
text, metadata, passages and sentences (ids and offsets) and their vectors (base64 of
little-endian float32, exact). Importing writes it into the store the settings name,
in place of what it held. Articles keep their ids and offsets (passage and sentence
ids too, except in a Milvus + PostgreSQL store that holds rows already: the new ones
go past those, as both stand side by side until the import is live).

Neither side holds the file in memory: an export is written an article at a time, and
an import reads the file twice a line at a time, first to check every line (a bad one
is named and nothing is written), then to write it in batches of bounded size, which
the store makes visible only once all are in. (The local store still builds its FAISS
and BM25 indexes in memory at the end, as every write of it does; their size is that
of the vectors and texts, not of the file's JSON and base64.)
"""

from __future__ import annotations

import base64
import dataclasses
import json
from array import array
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from qa.encoders.base import Vectors
from qa.errors import InputError
from qa.failures import writing
from qa.store.base import NewArticle, Snapshot, Store, StoredPassage
from qa.store.manifest import FORMAT_VERSION, Manifest
from qa.types import Article, Source, Span

FORMAT = "qa-export"
VERSION = 1
_SOURCE_FIELDS = tuple(f.name for f in dataclasses.fields(Source))
BATCH_BYTES = 16 * 2**20  # texts and vectors written at a time (Milvus rows take ~8x more)


def articles_of(snapshot: Snapshot) -> Iterator[NewArticle]:
    """Every article of a snapshot with its passages, sentences and stored vectors."""
    docs = snapshot.documents
    for article in docs.articles.values():
        passages = tuple(docs.passages_of(article.id))
        # An article's sentence ids are consecutive (passages may share sentences).
        sentence_ids = (
            list(range(passages[0].first_sentence, max(p.last_sentence for p in passages) + 1))
            if passages
            else []
        )
        yield NewArticle(
            article,
            passages,
            tuple((sid, docs.sentence(sid)) for sid in sentence_ids),
            snapshot.passage_vectors.vectors([p.id for p in passages]),
            snapshot.sentence_vectors.vectors(sentence_ids),
        )


def copy(snapshot: Snapshot, store: Store) -> Manifest:
    """Write a snapshot into another store, in place of what it held; its manifest there."""
    return write(store, snapshot.manifest, articles_of(snapshot))


def write(
    store: Store,
    manifest: Manifest,
    articles: Iterable[NewArticle],
    *,
    batch_bytes: int = BATCH_BYTES,
) -> Manifest:
    """Replace what ``store`` holds with ``articles``, written a batch at a time."""
    with writing(store.location), store.writing():
        return store.write_all(manifest, batches(articles, batch_bytes))


def batches(articles: Iterable[NewArticle], limit: int) -> Iterator[list[NewArticle]]:
    """Runs of articles whose texts and vectors take about ``limit`` bytes (one article
    more than that is a batch alone)."""
    batch: list[NewArticle] = []
    size = 0
    for new in articles:
        if batch and size + _size(new) > limit:
            yield batch
            batch, size = [], 0
        batch.append(new)
        size += _size(new)
    if batch:
        yield batch


def _size(new: NewArticle) -> int:
    return len(new.article.text) + new.passage_vectors.nbytes + new.sentence_vectors.nbytes


def export(snapshot: Snapshot, out: IO[str]) -> int:
    """Write the snapshot as JSON Lines; the number of articles written."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "manifest": dataclasses.asdict(snapshot.manifest),
    }
    out.write(json.dumps(header, ensure_ascii=False) + "\n")
    count = 0
    for new in articles_of(snapshot):
        out.write(json.dumps(_record(new), ensure_ascii=False) + "\n")
        count += 1
    return count


class ExportFile:
    """A file `qa export` wrote; its header is read (and checked) when it is opened.

    InputError names the line that cannot be used, and says nothing was imported.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        lines = self._lines()
        try:
            first = next(lines, None)
        finally:
            lines.close()
        if first is None:
            raise InputError(f"{path} is empty; give a file `qa export` wrote")
        self._header_line = first[0]
        try:
            self.manifest = _manifest(first[1])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                f"{self._where(first[0])}: {exc}; give a file `qa export` wrote"
            ) from exc

    def check(self) -> int:
        """Read every article once without keeping it; the number of articles. Each
        article id, passage id and sentence id must be used once only, and the counts
        must be those of the header (a file cut off between two lines is refused too)."""
        seen: dict[str, int] = {}
        ids: dict[str, tuple[array[int], array[int]]] = {
            "passage": (array("q"), array("q")),
            "sentence": (array("q"), array("q")),
        }
        for number, new in self._articles():
            first = seen.setdefault(new.article.id, number)
            if first != number:
                raise InputError(
                    f"{self._where(number)}: article {new.article.id!r} is there already on "
                    f"line {first}; nothing was imported"
                )
            for what, numbers in (
                ("passage", [p.id for p in new.passages]),
                ("sentence", [i for i, _ in new.sentences]),
            ):
                ids[what][0].extend(numbers)
                ids[what][1].extend([number] * len(numbers))
        for what, (found, lines) in ids.items():
            self._check_unique(what, found, lines)
        m = self.manifest
        named = (m.articles, m.passages, m.sentences)
        held = (len(seen), len(ids["passage"][0]), len(ids["sentence"][0]))
        if held != named:
            raise InputError(
                f"{self.path} holds {held[0]} articles, {held[1]} passages and {held[2]} "
                f"sentences, its header (line {self._header_line}) {named[0]}, {named[1]} and "
                f"{named[2]}: it was cut off or changed since `qa export` wrote it; export it "
                "again. Nothing was imported"
            )
        return len(seen)

    def articles(self) -> Iterator[NewArticle]:
        """Every article, read as it is asked for."""
        for _, new in self._articles():
            yield new

    def _articles(self) -> Iterator[tuple[int, NewArticle]]:
        dimension = self.manifest.dimension
        lines = self._lines()
        try:
            for number, line in lines:
                if number == self._header_line:
                    continue
                try:
                    yield number, _article(json.loads(line), dimension)
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    raise InputError(f"{self._where(number)}: {exc}; nothing was imported") from exc
        finally:
            lines.close()

    def _lines(self) -> Generator[tuple[int, str]]:
        """(line number, text) of each line that is not blank."""
        try:
            with open(self.path, "rb") as handle:
                for number, raw in enumerate(handle, start=1):
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise InputError(
                            f"{self._where(number)}: not UTF-8 ({exc.reason}); nothing was imported"
                        ) from exc
                    if line.strip():
                        yield number, line
        except OSError as exc:
            raise InputError(
                f"cannot read {self.path} ({exc}); give a file `qa export` wrote"
            ) from exc

    def _check_unique(self, what: str, found: array[int], lines: array[int]) -> None:
        ids = np.frombuffer(found, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        twice = np.flatnonzero(ids[order][1:] == ids[order][:-1])
        if len(twice):
            first, second = order[twice[0]], order[twice[0] + 1]
            raise InputError(
                f"{self._where(lines[second])}: {what} id {ids[first]} is there already on "
                f"line {lines[first]}; nothing was imported"
            )

    def _where(self, line: int) -> str:
        return f"{self.path}, line {line}"


def _manifest(line: str) -> Manifest:
    header = json.loads(line)
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(f"it is not a {FORMAT} file of version {VERSION}")
    manifest = Manifest(**header["manifest"])
    if manifest.format != FORMAT_VERSION:
        raise ValueError(f"its index format is {manifest.format}, not {FORMAT_VERSION}")
    return manifest


def _record(new: NewArticle) -> dict[str, Any]:
    article = new.article
    return {
        "source": dataclasses.asdict(article.source),
        "origin": article.origin,
        "text": article.text,
        "passages": [
            [p.id, p.first_sentence, p.last_sentence, p.start, p.end] for p in new.passages
        ],
        "sentences": [[sid, span.start, span.end] for sid, span in new.sentences],
        "passage_vectors": _encode(new.passage_vectors),
        "sentence_vectors": _encode(new.sentence_vectors),
    }


def _article(record: dict[str, Any], dimension: int) -> NewArticle:
    source = Source(**{k: record["source"].get(k) for k in _SOURCE_FIELDS})
    if not isinstance(source.article_id, str) or not source.article_id:
        raise ValueError("an article without an id")
    text = record["text"]
    if not isinstance(text, str):
        raise ValueError(f"article {source.article_id!r} has no text")
    article = Article(source, text, record.get("origin"))
    passages = tuple(
        StoredPassage(int(i), article.id, int(f), int(la), int(s), int(e))
        for i, f, la, s, e in record["passages"]
    )
    sentences = tuple((int(i), Span(int(s), int(e))) for i, s, e in record["sentences"])
    for what, spans in (
        ("passage", [(p.start, p.end) for p in passages]),
        ("sentence", [(s.start, s.end) for _, s in sentences]),
    ):
        if any(not 0 <= start < end <= len(text) for start, end in spans):
            raise ValueError(f"a {what} of {article.id!r} lies outside its text")
    passage_vectors = _decode(record["passage_vectors"], len(passages), dimension)
    sentence_vectors = _decode(record["sentence_vectors"], len(sentences), dimension)
    return NewArticle(article, passages, sentences, passage_vectors, sentence_vectors)


def _encode(vectors: Vectors) -> str:
    return base64.b64encode(np.ascontiguousarray(vectors, dtype="<f4").tobytes()).decode("ascii")


def _decode(text: str, rows: int, dimension: int) -> Vectors:
    data = base64.b64decode(text, validate=True)
    if len(data) != rows * dimension * 4:
        raise ValueError(f"{rows} vectors of {dimension} numbers were expected")
    return np.frombuffer(data, dtype="<f4").reshape(rows, dimension).astype(np.float32)
