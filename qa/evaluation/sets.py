"""Test sets in: qa's own JSONL, a BEIR folder, or a SQuAD JSON file.

qa's test set judges passages by gold strings ("the answer stands in it"); BEIR and
SQuAD judge whole documents (here: articles) by their relevance judgements.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qa.corpus.load import make_article
from qa.corpus.meta import Meta
from qa.errors import CorpusError, InputError
from qa.types import Article

Unit = Literal["passage", "article"]


@dataclass(frozen=True, slots=True)
class Question:
    """One test question; with no answers and no relevant articles it should abstain."""

    id: str
    text: str
    answers: tuple[str, ...] = ()  # gold strings: a passage holding one answers it
    article_ids: tuple[str, ...] = ()  # if given, only passages of these articles count
    relevant: Mapping[str, int] = field(default_factory=dict)  # article id -> grade

    @property
    def answerable(self) -> bool:
        return bool(self.answers or self.relevant)


@dataclass(frozen=True, slots=True)
class EvalSet:
    """Questions, and the articles to index for them (None: use the existing index)."""

    name: str
    questions: tuple[Question, ...]
    unit: Unit
    articles: tuple[Article, ...] | None = None
    fingerprint: str = ""  # a hash of the files read, for caching the index of ``articles``

    @property
    def answerable(self) -> list[Question]:
        return [q for q in self.questions if q.answerable]

    @property
    def off_topic(self) -> list[Question]:
        return [q for q in self.questions if not q.answerable]


def read(path: Path, *, split: str = "test") -> EvalSet:
    """Read ``path`` by its shape: a BEIR folder, a SQuAD .json, or qa's .jsonl."""
    if path.is_dir():
        return read_beir(path, split=split)
    if not path.is_file():
        raise InputError(f"{path}: no such test set file or BEIR folder")
    if path.suffix.lower() == ".json":
        return read_squad(path)
    return read_testset(path)


def read_testset(path: Path) -> EvalSet:
    """qa's format: one JSON object a line with id, question, answers, article_ids."""
    questions: list[Question] = []
    seen: set[str] = set()
    for number, record in _json_lines(path):
        where = f"{path}:{number}"
        question = _text_field(record, "question", where)
        qid = str(record.get("id", "")).strip() or f"line-{number}"
        if qid in seen:
            raise InputError(f"{where}: the id {qid!r} is used twice; give each question its own")
        seen.add(qid)
        answers = _strings(record.get("answers"), "answers", where, required=True)
        article_ids = _strings(record.get("article_ids"), "article_ids", where, required=False)
        questions.append(Question(qid, question, answers, article_ids))
    if not questions:
        raise InputError(f"{path}: the test set has no questions")
    return EvalSet(path.name, tuple(questions), "passage")


def read_beir(folder: Path, *, split: str = "test") -> EvalSet:
    """A BEIR folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv."""
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for needed in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not needed.is_file():
            raise InputError(
                f"{folder}: not a BEIR folder, {needed.relative_to(folder)} is missing "
                "(a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/test.tsv)"
            )
    relevant = _read_qrels(qrels_path)
    texts = {}
    for number, record in _json_lines(folder / "queries.jsonl"):
        qid = str(record.get("_id", "")).strip()
        if qid in relevant:
            texts[qid] = _text_field(record, "text", f"{folder / 'queries.jsonl'}:{number}")
    missing = sorted(set(relevant) - set(texts))
    if missing:
        raise InputError(f"{qrels_path}: queries {missing[:5]} are not in queries.jsonl")
    articles = []
    for number, record in _json_lines(folder / "corpus.jsonl"):
        where = f"{folder / 'corpus.jsonl'}:{number}"
        doc_id = str(record.get("_id", "")).strip()
        if not doc_id:
            raise InputError(f"{where}: the '_id' field is missing")
        articles.extend(_article(record.get("text") or "", doc_id, record.get("title"), where))
    questions = tuple(Question(qid, texts[qid], relevant=relevant[qid]) for qid in relevant)
    name = f"{folder.name} ({split})"
    return EvalSet(
        name, questions, "article", tuple(articles), _fingerprint(folder / "corpus.jsonl")
    )


def read_squad(path: Path) -> EvalSet:
    """SQuAD 1.1/2.0: each paragraph an article; unanswerable questions should abstain."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        topics = data["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a SQuAD JSON file ({exc})") from exc
    articles: list[Article] = []
    questions: list[Question] = []
    for t, topic in enumerate(topics):
        title = str(topic.get("title", "")).replace("_", " ")
        for p, paragraph in enumerate(topic.get("paragraphs", [])):
            article_id = f"squad-{t:03d}-{p:03d}"
            made = _article(
                paragraph.get("context", ""), article_id, title, f"{path} ({title} {p})"
            )
            articles.extend(made)
            for qa in paragraph.get("qas", []):
                impossible = bool(qa.get("is_impossible"))
                golds = tuple(
                    dict.fromkeys(a["text"] for a in qa.get("answers", []) if a.get("text"))
                )
                questions.append(
                    Question(
                        str(qa["id"]),
                        str(qa["question"]),
                        answers=() if impossible else golds,
                        relevant={} if impossible or not made else {article_id: 1},
                    )
                )
    if not questions:
        raise InputError(f"{path}: the SQuAD file has no questions")
    return EvalSet(path.name, tuple(questions), "article", tuple(articles), _fingerprint(path))


def fold(text: str) -> str:
    """Case, quote marks and white space folded, for matching gold strings."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[\"'“”‘’«»„`´]", "'", text)
    text = re.sub(r"[‐-―−]", "-", text)
    return " ".join(text.split())


def _article(text: str, article_id: str, title: object, where: str) -> list[Article]:
    """The article, or nothing when cleaning leaves no text (it then cannot be found)."""
    try:
        meta = Meta(id=article_id, title=(str(title).strip() or None) if title else None)
        return [make_article(text, meta, origin=where, markdown=False)]
    except CorpusError:
        return []


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as UTF-8 text ({exc})") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from exc
        if not isinstance(record, dict):
            raise InputError(f"{path}:{number}: each line must be a JSON object")
        yield number, record


def _text_field(record: Mapping[str, Any], name: str, where: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: the {name!r} field is missing or empty")
    return value


def _strings(value: object, name: str, where: str, *, required: bool) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(
            f"{where}: {name!r} must be a list of strings"
            + (" ([] for a question that should abstain)" if name == "answers" else "")
        )
    return tuple(value)


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    relevant: dict[str, dict[str, int]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.strip().split("\t")
        if not line.strip() or (number == 1 and parts[-1].lower() == "score"):
            continue
        if len(parts) != 3:
            raise InputError(
                f"{path}:{number}: expected query-id, corpus-id and score, tab-separated"
            )
        try:
            grade = int(parts[2])
        except ValueError as exc:
            raise InputError(
                f"{path}:{number}: the score {parts[2]!r} is not a whole number"
            ) from exc
        if grade > 0:
            relevant.setdefault(parts[0], {})[parts[1]] = grade
    return relevant


def _fingerprint(path: Path) -> str:
    """The articles' source file, hashed: the cached index is reused while it is unchanged."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
