"""Read articles from .txt/.md (with optional front matter), .html and .jsonl files.

A file that cannot be used becomes a Problem that names it and says why; the others
still load. Article ids are stable: the id given in the file, or else the file's path
below the folder that was loaded, so re-loading a changed file replaces its article.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.corpus.clean import clean, is_prose, review, words
from qa.corpus.meta import (
    MANIFEST_NAME,
    Meta,
    check_id,
    parse_meta,
    read_manifest,
    split_front_matter,
    url_in_text,
)
from qa.errors import CorpusError
from qa.types import Article, Source

KINDS = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".jsonl": "jsonl",
}
SUPPORTED = ", ".join(sorted(KINDS))
_HEADLINE_MAX_WORDS = 25
_PATH_ID_MAX = 200  # what check_id allows
_SITE_IN_URL = re.compile(r"https?://(?:www\.|w[0-9]+\.)?([^/]+)")  # as trafilatura guesses


@dataclass(frozen=True, slots=True)
class Problem:
    """A file (or line) that was skipped, and why."""

    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Loaded:
    articles: tuple[Article, ...]
    problems: tuple[Problem, ...]


def load(paths: Sequence[Path | str]) -> Loaded:
    """Load every article under ``paths``; raise CorpusError when there are none at all."""
    loader = _Loader()
    for path in map(Path, paths):
        if not path.exists():
            raise CorpusError(f"{path}: no such file or folder")
        if path.is_dir():
            loader.load_folder(path)
        else:
            loader.load_file(path, root=path.parent, explicit=True)
    if not loader.articles:
        where = ", ".join(str(p) for p in paths)
        detail = f"; skipped: {'; '.join(map(str, loader.problems))}" if loader.problems else ""
        raise CorpusError(f"no articles found in {where} (qa reads {SUPPORTED} files){detail}")
    return Loaded(tuple(loader.articles.values()), tuple(loader.problems))


def path_id(path: Path, root: Path) -> str:
    """An id from the file's place below the loaded folder: 'world/talks.txt' -> 'world-talks'.

    Accents are dropped ('café' -> 'cafe'). When letters are lost on the way ('Київ.txt'),
    nothing is left, or the name is too long, a short hash of the relative path is added,
    so different files still get different ids and the same file always the same one.
    """
    relative = path.relative_to(root).with_suffix("")
    name = unicodedata.normalize("NFC", "-".join(relative.parts))
    folded = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", folded).lstrip("-._").rstrip("-.")
    lost = any(c.isalnum() and not c.isascii() for c in folded)
    if slug and not lost and len(slug) <= _PATH_ID_MAX:
        return slug
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    head = slug[: _PATH_ID_MAX - len(digest) - 1].rstrip("-.")
    return f"{head}-{digest}" if head else digest


class _Loader:
    def __init__(self) -> None:
        self.articles: dict[str, Article] = {}
        self.problems: list[Problem] = []
        self._manifests: dict[Path, dict[str, Meta]] = {}
        self._read: set[Path] = set()  # a file named twice, or inside a named folder too

    def load_folder(self, folder: Path) -> None:
        for path in sorted(folder.rglob("*")):
            hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
            if path.is_file() and not hidden and path.suffix.lower() in KINDS:
                self.load_file(path, root=folder, explicit=False)

    def load_file(self, path: Path, *, root: Path, explicit: bool) -> None:
        kind = KINDS.get(path.suffix.lower())
        if kind is None:
            if explicit:
                kind_name = path.suffix or "(none)"
                self._skip(f"{path}: unsupported file type {kind_name!r}; qa reads {SUPPORTED}")
            return
        if path.resolve() in self._read:
            return
        self._read.add(path.resolve())
        try:
            if kind == "jsonl":
                if _is_test_set(path):
                    return  # `qa eval` questions beside the articles, not articles
                for item in _jsonl(path):
                    self._add(item) if isinstance(item, Article) else self.problems.append(item)
                return
            meta = self._manifest_meta(path).over(Meta(id=path_id(path, root)))
            raw = path.read_bytes()
            if _blank(raw):
                raise CorpusError(f"{path}: the file is empty")
            article = (
                _html(raw, meta, path) if kind == "html" else _text_file(raw, meta, path, kind)
            )
            self._add(article)
        except CorpusError as exc:
            self._skip(str(exc))
        except OSError as exc:
            self._skip(f"{path}: cannot be read ({exc.strerror or exc})")

    def _add(self, article: Article) -> None:
        first = self.articles.get(article.id)
        if first is not None:
            self._skip(
                f"{article.origin}: id {article.id!r} is already used by {first.origin}; skipped. "
                "Give one of them another id (front matter 'id:' or the JSONL 'id' field)."
            )
            return
        self.articles[article.id] = article

    def _skip(self, message: str) -> None:
        self.problems.append(Problem(message))

    def _manifest_meta(self, path: Path) -> Meta:
        folder = path.parent
        if folder not in self._manifests:
            self._manifests[folder] = {}
            manifest = folder / MANIFEST_NAME
            if manifest.is_file():
                try:
                    self._manifests[folder] = read_manifest(
                        _decode(manifest.read_bytes(), manifest), where=str(manifest)
                    )
                    for name in self._manifests[folder]:
                        if not (folder / name).is_file():  # a typo would lose its metadata
                            self._skip(
                                f"{manifest}: no file {name!r} in {folder}; "
                                "check the name (it must match the file's name exactly)"
                            )
                except CorpusError as exc:
                    self._skip(f"{exc}; its metadata was not used")
                except OSError as exc:
                    self._skip(
                        f"{manifest}: cannot be read ({exc.strerror or exc}); "
                        "its metadata was not used"
                    )
        return self._manifests[folder].get(path.name, Meta())


def _text_file(raw: bytes, meta: Meta, path: Path, kind: str) -> Article:
    text = _decode(raw, path)
    front, body = split_front_matter(text, where=str(path))
    if not body.strip():
        raise CorpusError(f"{path}: there is no text after the front matter")
    meta = front.over(meta)
    if meta.title is None:
        meta = Meta(title=_headline(body, markdown=kind == "markdown")).over(meta)
    if meta.url is None:
        meta = Meta(url=url_in_text(body)).over(meta)
    return make_article(body, meta, origin=_display(path), markdown=kind == "markdown")


def _html(raw: bytes, meta: Meta, path: Path) -> Article:
    text, page, site = read_html(raw, where=str(path))
    meta = meta.over(page).over(Meta(outlet=site))
    return make_article(text, meta, origin=_display(path), markdown=False)


def read_html(raw: bytes, *, where: str, url: str | None = None) -> tuple[str, Meta, str | None]:
    """A page's main text, the metadata it gives, and its site's name or host (an outlet
    of last resort).

    ``url`` is where the page was fetched from, used when it names no canonical url.
    The page's own site name is its outlet; trafilatura's guess from the url is
    returned apart, so that better knowledge (a feed's title) can come before it.
    """
    import trafilatura  # slow to import; only HTML needs it

    doc = trafilatura.bare_extraction(raw, url=url, with_metadata=True, include_comments=False)
    found = doc.as_dict() if doc is not None and hasattr(doc, "as_dict") else (doc or {})
    text = found.get("text") or ""
    if not text.strip():
        raise CorpusError(f"{where}: no article text found in the HTML page")
    sitename = found.get("sitename")
    fallback = sitename or found.get("hostname")
    guessed = _SITE_IN_URL.match(found.get("url") or "")
    if sitename and guessed and sitename == guessed.group(1):
        sitename = None  # trafilatura's guess from the url, not a name the page gives
    page = parse_meta(
        {
            "title": found.get("title"),
            "outlet": sitename,
            "author": found.get("author"),
            "published": _lenient_date(found.get("date")),
            "url": found.get("url"),
        },
        where=where,
    )
    return text, page, fallback


def _jsonl(path: Path) -> Iterator[Article | Problem]:
    raw = path.read_bytes()
    if _blank(raw):
        raise CorpusError(f"{path}: the file is empty")
    for number, line in enumerate(raw.split(b"\n"), start=1):
        where = f"{_display(path)}:{number}"
        if not line.strip():
            continue
        try:
            record = json.loads(_decode(line, Path(where)))
            if not isinstance(record, dict):
                raise CorpusError(
                    f"{where}: each line must be a JSON object with id, title and text"
                )
            article_id = record.get("id")
            if article_id is None or not str(article_id).strip():
                raise CorpusError(f"{where}: the 'id' field is missing")
            text = record.get("text")
            if not isinstance(text, str) or not text.strip():
                raise CorpusError(f"{where}: the 'text' field is missing or empty")
            meta = parse_meta(record, where=where)
            yield make_article(text, meta, origin=where, markdown=False)
        except json.JSONDecodeError as exc:
            yield Problem(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
        except CorpusError as exc:
            yield Problem(str(exc))


def make_article(text: str, meta: Meta, *, origin: str, markdown: bool) -> Article:
    """Clean ``text`` and attach its metadata; raise CorpusError if nothing is left."""
    if meta.id is None:
        raise CorpusError(f"{origin}: the article has no id")
    check_id(meta.id, where=origin)
    cleaned = clean(text, title=meta.title, author=meta.author, markdown=markdown)
    if not cleaned:
        raise CorpusError(
            f"{origin}: no article text left after removing site chrome "
            "(qa keeps paragraphs of running text: sentences of four words or more)"
        )
    source = Source(meta.id, meta.title, meta.outlet, meta.author, meta.published, meta.url)
    return Article(source=source, text=cleaned, origin=origin)


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "convert it, for example with `iconv -f WINDOWS-1252 -t UTF-8`"
        ) from exc


def _is_test_set(path: Path) -> bool:
    """A JSONL file of questions (qa's test-set format) rather than of articles."""
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                try:
                    record = json.loads(line)
                except ValueError:
                    return False
                return isinstance(record, dict) and "question" in record and "text" not in record
    return False


def _display(path: Path) -> str:
    """The path as text that can be stored and printed, even if its name is not UTF-8."""
    return os.fsencode(path).decode("utf-8", "replace")


def _blank(raw: bytes) -> bool:
    return not raw.removeprefix(codecs.BOM_UTF8).strip()


def _headline(body: str, *, markdown: bool) -> str | None:
    """The first line, when it reads as a headline rather than a sentence."""
    for line in body.splitlines():
        line = line.strip().lstrip("#").strip()
        if markdown and line:  # '# **Talks** in [Minsk](...)' -> 'Talks in Minsk'
            line = " ".join(part.text for part in review(line, markdown=True))
        if line:
            short = words(line) <= _HEADLINE_MAX_WORDS
            return line if short and not is_prose(line) else None
    return None


def _lenient_date(value: object) -> str | None:
    """Pages carry dates in many shapes; keep only an ISO one."""
    text = str(value or "")[:10]
    return text if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
