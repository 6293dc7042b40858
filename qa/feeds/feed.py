"""RSS 2.0 and Atom feeds, read with feedparser: which pages they point to, and what
they say of each (title, author, date) for the pages that do not say it themselves."""

from __future__ import annotations

import calendar
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from qa.corpus.meta import Meta
from qa.errors import FetchError


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a feed: the page it links to and what the feed says about it."""

    link: str
    stamp: str | None  # its updated (else published) date as written: a change is news
    meta: Meta


@dataclass(frozen=True, slots=True)
class Feed:
    url: str
    title: str | None
    entries: tuple[Entry, ...]
    problems: tuple[str, ...] = ()  # entries left out, and why


def parse_feed(body: bytes, url: str, *, max_entries: int) -> Feed:
    """The entries of an RSS or Atom document, the first ``max_entries`` of them.

    feedparser is given the bytes, never the URL: the fetching (limits, robots.txt,
    the address check) is qa's own.
    """
    import feedparser  # only feeds need it

    parsed = feedparser.parse(body, response_headers={"content-location": url})
    broken = parsed.get("bozo") and not parsed.entries  # feedparser reads what it can
    if not parsed.get("version") or broken:
        reason = parsed.get("bozo_exception") or "no RSS or Atom elements in it"
        raise FetchError(
            f"{url}: not a feed that can be read ({_text(reason)}); "
            "give the address of an RSS 2.0 or Atom feed, or of a page"
        )
    title = _text(parsed.feed.get("title"))
    entries: list[Entry] = []
    problems: list[str] = []
    for item in parsed.entries[:max_entries]:
        link = _text(item.get("link"))
        if link is None:
            name = _text(item.get("title")) or _text(item.get("id")) or "(untitled)"
            problems.append(f"{url}: the entry {name!r} has no link; it was left out")
            continue
        entries.append(
            Entry(
                link,
                _text(_own(item, "updated") or _own(item, "published")),
                _meta(item, outlet=title),
            )
        )
    if len(parsed.entries) > max_entries:
        problems.append(
            f"{url}: only its first {max_entries} entries were read of "
            f"{len(parsed.entries)} (QA_FEED_MAX_ENTRIES)"
        )
    return Feed(url, title, tuple(entries), tuple(problems))


def _meta(item: Any, *, outlet: str | None) -> Meta:
    detail = item.get("author_detail") or {}
    parsed = _own(item, "published_parsed") or _own(item, "updated_parsed")
    return Meta(
        title=_text(item.get("title")),
        author=_text(detail.get("name")) or _text(item.get("author")),
        published=_date(parsed),
        outlet=outlet,
    )


def _date(parsed: time.struct_time | None) -> str | None:
    """feedparser's dates are UTC struct_times; the article's date is that day."""
    if parsed is None:
        return None
    try:
        moment = dt.datetime.fromtimestamp(calendar.timegm(parsed), dt.UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return moment.date().isoformat()


def _own(item: Any, key: str) -> Any:
    """The field itself: feedparser's get() maps a missing 'updated' to 'published'
    with a DeprecationWarning."""
    return dict.get(item, key)


def _text(value: object) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text or None
