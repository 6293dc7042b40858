"""Moving an index between stores without embedding again: `qa export` and `qa import`.

The file is JSON Lines: a header with the manifest, then one line per article with its
text, metadata, passages and sentences (ids and offsets) and their vectors (base64 of
little-endian float32, exact). Importing writes it whole into the store the settings
name, in place of what it held; ids are kept, so answers keep their offsets.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from qa.encoders.base import Vectors
from qa.errors import InputError
from qa.failures import writing
from qa.store.base import Changes, NewArticle, Snapshot, Store, StoredPassage
from qa.store.manifest import FORMAT_VERSION, Manifest
from qa.types import Article, Source, Span

FORMAT = "qa-export"
VERSION = 1
_SOURCE_FIELDS = tuple(f.name for f in dataclasses.fields(Source))


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


def copy(snapshot: Snapshot, store: Store) -> int:
    """Write a snapshot into another store, in place of what it held; articles copied."""
    return write(store, snapshot.manifest, articles_of(snapshot))


def write(store: Store, manifest: Manifest, articles: Iterable[NewArticle]) -> int:
    upserts = tuple(articles)
    with writing(store.location), store.writing():
        store.write(Changes(manifest, upserts, fresh=True))
    return len(upserts)


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


def read(path: Path) -> tuple[Manifest, list[NewArticle]]:
    """A file `qa export` wrote; InputError names the line that cannot be used."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line for line in handle if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path} ({exc}); give a file `qa export` wrote") from exc
    if not lines:
        raise InputError(f"{path} is empty; give a file `qa export` wrote")
    try:
        header = json.loads(lines[0])
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise ValueError(f"it is not a {FORMAT} file of version {VERSION}")
        manifest = Manifest(**header["manifest"])
        if manifest.format != FORMAT_VERSION:
            raise ValueError(f"its index format is {manifest.format}, not {FORMAT_VERSION}")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}, line 1: {exc}; give a file `qa export` wrote") from exc
    articles = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            articles.append(_article(json.loads(line), manifest.dimension))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{path}, line {number}: {exc}; nothing was imported") from exc
    return manifest, articles


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
