"""From URLs to articles ready to index: a page, or every page a feed links to, each
story once however many feeds or addresses lead to it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from qa.corpus.meta import Meta
from qa.errors import FetchError, QAError
from qa.feeds.feed import Entry, parse_feed
from qa.feeds.fetch import Fetched, Fetcher
from qa.feeds.pages import page_article
from qa.feeds.state import Seen
from qa.types import Article

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(text: str) -> bool:
    """An address (scheme://...) rather than a path: what `qa index` fetches."""
    return bool(_SCHEME.match(text))


@dataclass(frozen=True, slots=True)
class Skipped:
    """A page fetched but not stored, because the index (or this run) already has it."""

    url: str
    article_id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.url}: {self.reason}"


@dataclass(slots=True)
class Collected:
    """What a run gathered: articles to index, pages skipped, and problems to warn of."""

    articles: dict[str, Article] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Collector:
    """Turns fetched pages into articles, deduplicated by canonical url and by text.

    ``indexed`` is what the index holds already: a page whose article is there with the
    same text and metadata is skipped, and so is a page whose text another article has.
    """

    def __init__(self, fetcher: Fetcher, indexed: Mapping[str, Article]) -> None:
        self.fetcher = fetcher
        self.indexed = indexed
        self.found = Collected()
        self._by_text = {a.text_hash: a.id for a in indexed.values()}

    def urls(self, urls: Iterable[str]) -> Collected:
        """Each URL is a page or a feed; a failure is a problem, and the rest go on."""
        for url in urls:
            try:
                fetched = self.fetcher.get(url)
                if fetched.kind == "feed":
                    self.feed(fetched)
                else:
                    self.page(fetched)
            except QAError as exc:
                self.found.problems.append(str(exc))
        return self.found

    def feed(self, fetched: Fetched) -> None:
        """Take every entry's page; FetchError when the feed itself does not parse."""
        feed = parse_feed(
            fetched.body, fetched.url, max_entries=self.fetcher.settings.feed_max_entries
        )
        self.found.problems.extend(feed.problems)
        if not feed.entries:
            self.found.problems.append(f"{fetched.url}: the feed has no entries")
        for entry in feed.entries:
            self.entry(entry)

    def entry(self, entry: Entry, *, known: Seen | None = None) -> Seen | None:
        """Fetch and take the entry's page (conditionally, when ``known``); what to
        remember of it, or None when it failed (and was noted)."""
        try:
            page = self.fetcher.get(
                entry.link,
                etag=known.etag if known else None,
                last_modified=known.last_modified if known else None,
            )
            if page.kind == "feed":
                raise FetchError(f"{entry.link}: the entry links to a feed, not to a page")
            if page.not_modified and known is not None:
                return Seen(
                    entry.link,
                    page.etag or known.etag,
                    page.last_modified or known.last_modified,
                    entry.stamp,
                    known.article_ids,
                )
            article_id = self.page(page, entry.meta)
        except QAError as exc:
            self.found.problems.append(str(exc))
            return None
        return Seen(entry.link, page.etag, page.last_modified, entry.stamp, (article_id,))

    def page(self, fetched: Fetched, fallback: Meta | None = None) -> str:
        """Take the page's article unless it is already had; the id it is known by."""
        article = page_article(fetched, fallback)
        same_text = self._by_text.get(article.text_hash)
        if article.id in self.found.articles:
            self._skip(fetched, article.id, "the same article was met earlier in this run")
        elif same_text is not None and same_text != article.id:
            self._skip(fetched, same_text, f"the same text as the article {same_text}")
            return same_text
        elif _unchanged(article, self.indexed.get(article.id)):
            self._skip(fetched, article.id, "unchanged since it was indexed")
        else:
            self.found.articles[article.id] = article
            self._by_text[article.text_hash] = article.id
        return article.id

    def _skip(self, fetched: Fetched, article_id: str, reason: str) -> None:
        self.found.skipped.append(Skipped(fetched.url, article_id, reason))


def _unchanged(article: Article, indexed: Article | None) -> bool:
    return indexed is not None and (indexed.source, indexed.text) == (
        article.source,
        article.text,
    )
