"""Article metadata: front matter, folder manifests, and normalising the fields."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from qa.errors import CorpusError

FIELDS = ("title", "outlet", "author", "published", "url")
MANIFEST_NAME = "metadata.yaml"

_FRONT_MATTER = re.compile(
    r"\A(?:\ufeff)?---[ \t]*\r?\n(.*?\r?\n)?(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S
)
# YYYY, YYYY-MM or YYYY-MM-DD; a full date may go on with a time of day and a UTC offset.
PUBLISHED = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:[Tt ]\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"\s*(?:[Zz]|[+-]\d{1,2}(?::?\d{2}(?::?\d{2}(?:\.\d+)?)?)?)?)?"
    r")?)?$"
)
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")  # what an article id may be
_URL_IN_TEXT = re.compile(
    r"^(?:original|source|canonical) url\s*:\s*<?(https?://[^\s>]+)>?\s*$", re.I | re.M
)


@dataclass(frozen=True, slots=True)
class Meta:
    """What is known about an article before its text is read; None when unknown."""

    id: str | None = None
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    published: str | None = None
    url: str | None = None

    def over(self, fallback: Meta) -> Meta:
        """These fields, with ``fallback``'s wherever these are unknown."""
        return Meta(
            **{
                name: getattr(self, name)
                if getattr(self, name) is not None
                else getattr(fallback, name)
                for name in ("id", *FIELDS)
            }
        )


def parse_meta(data: Mapping[str, Any], *, where: str) -> Meta:
    """Validate user-given fields; raise CorpusError naming ``where`` and the field."""
    values: dict[str, str | None] = {}
    for name in FIELDS:
        values[name] = _text(data.get(name), name=name, where=where)
    if values["published"] is not None:
        values["published"] = normalise_published(data.get("published"), where=where)
    raw_id = data.get("id")
    article_id = None
    if raw_id is not None and str(raw_id).strip():
        article_id = str(raw_id).strip()
        check_id(article_id, where=where)
    return replace(Meta(**values), id=article_id)


def normalise_published(value: object, *, where: str) -> str | None:
    """An ISO date, or its year or year-month when only those are known."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    match = PUBLISHED.match(str(value).strip())
    if not match:
        raise CorpusError(
            f"{where}: published {str(value)!r} is not a date; write it as YYYY-MM-DD "
            "(or YYYY-MM, or YYYY when only that is known)"
        )
    year, month, day = match.groups()
    try:
        dt.date(int(year), int(month or 1), int(day or 1))
    except ValueError as exc:
        raise CorpusError(f"{where}: published {str(value)!r} is not a real date ({exc})") from exc
    return "-".join(part for part in (year, month, day) if part)


def check_id(article_id: str, *, where: str) -> None:
    if not ID.match(article_id):
        raise CorpusError(
            f"{where}: id {article_id!r} must start with a letter or digit and contain only "
            "letters, digits and _ . : - (200 characters at most)"
        )


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that leaves an impossible date (2022-02-30) as text.

    PyYAML raises a bare ValueError for those; as text, the field check reports the file
    and the field instead.
    """


def _timestamp(loader: _YamlLoader, node: yaml.ScalarNode) -> object:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_YamlLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YamlLoader)  # a SafeLoader: builds no objects


def split_front_matter(text: str, *, where: str) -> tuple[Meta, str]:
    """Metadata from a leading ``---`` YAML block, and the text after it."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return Meta(), text
    body = text[match.end() :]
    try:
        data = _load_yaml(match.group(1) or "") or {}
    except yaml.YAMLError as exc:
        raise CorpusError(
            f"{where}: front matter is not valid YAML ({_yaml_problem(exc)})"
        ) from exc
    if not isinstance(data, dict):
        raise CorpusError(f"{where}: front matter must be 'field: value' lines, not a list or text")
    return parse_meta(data, where=where), body


def read_manifest(text: str, *, where: str) -> dict[str, Meta]:
    """A folder's metadata.yaml: file name -> fields."""
    try:
        data = _load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise CorpusError(f"{where}: not valid YAML ({_yaml_problem(exc)})") from exc
    if not isinstance(data, dict):
        raise CorpusError(f"{where}: must map file names to their fields (title, outlet, ...)")
    out: dict[str, Meta] = {}
    for name, fields in data.items():
        if fields is None:
            fields = {}
        if not isinstance(fields, dict):
            raise CorpusError(f"{where}: the entry for {name!r} must be 'field: value' lines")
        out[str(name)] = parse_meta(fields, where=f"{where} ({name})")
    return out


def url_in_text(text: str) -> str | None:
    """A source address that a scraper printed in the page ("Original url: ...")."""
    match = _URL_IN_TEXT.search(text)  # the address may stand on the next line
    return match.group(1) if match else None


def _text(value: object, *, name: str, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise CorpusError(f"{where}: {name} must be a single value, not a list or mapping")
    text = str(value).strip() if not isinstance(value, dt.date) else value.isoformat()
    return text or None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "cannot parse"
    return f"line {mark.line + 1}: {problem}" if mark is not None else str(problem)
