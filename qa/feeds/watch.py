"""Watch feeds: poll them, and add only the articles that are new or changed.

A feed unchanged since the last poll answers 304 to its ETag or Last-Modified and
nothing more is fetched; an entry already indexed whose date in the feed did not
change is not fetched again; a changed one is fetched conditionally. What was fetched
is remembered only once its articles are in the index, so a failed write is tried
again at the next poll. An entry that could not be fetched keeps its feed from being
marked seen, so it is tried again too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from qa.config import Settings
from qa.errors import IndexMissingError, QAError
from qa.feeds.collect import Collector, Skipped
from qa.feeds.feed import parse_feed
from qa.feeds.fetch import Fetched, Fetcher
from qa.feeds.guard import AddressGuard
from qa.feeds.robots import Robots
from qa.feeds.state import Seen, WatchState, open_state
from qa.types import Article

if TYPE_CHECKING:
    from qa.encoders import Encoder
    from qa.indexing import BuildReport
    from qa.service import Service

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where watched articles go: the index on disk, or a running server's Service."""

    def indexed(self) -> Mapping[str, Article]: ...

    def add(self, articles: Sequence[Article]) -> BuildReport: ...


@dataclass(frozen=True, slots=True)
class PollReport:
    """One poll of every feed."""

    feeds: int
    unchanged_feeds: int = 0  # answered 304
    failed_feeds: int = 0  # could not be fetched or read
    unchanged_entries: int = 0  # indexed, same date in the feed: not fetched
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    problems: tuple[str, ...] = ()
    at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"))

    def summary(self) -> str:
        unchanged = f" ({self.unchanged_feeds} unchanged)" if self.unchanged_feeds else ""
        feeds = "feed" if self.feeds == 1 else "feeds"
        return (
            f"Polled {self.feeds} {feeds}{unchanged}: {len(self.added)} added, "
            f"{len(self.updated)} updated, {len(self.skipped)} skipped, "
            f"{self.unchanged_entries} entries unchanged, {len(self.problems)} problems."
        )


class Watcher:
    """Polls ``feeds`` (each a feed or a page) into ``sink``."""

    def __init__(
        self,
        feeds: Sequence[str],
        settings: Settings,
        sink: Sink,
        state: WatchState,
        *,
        guard: AddressGuard | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.feeds = list(dict.fromkeys(feeds))
        self.sink = sink
        self.state = state
        self.stop = stop or threading.Event()
        self.fetcher = Fetcher(settings, guard=guard, robots=Robots(state), stop=self.stop)

    def poll(self) -> PollReport:
        collector = Collector(self.fetcher, self.sink.indexed())
        remember: list[Seen] = []
        counts = _Counts()
        for url in self.feeds:
            seen = self._poll_one(url, collector, counts)
            remember.extend(seen or [])
            counts.failed += seen is None
        found = collector.found
        report = self.sink.add(list(found.articles.values())) if found.articles else None
        self.state.save(remember)
        return PollReport(
            feeds=len(self.feeds),
            unchanged_feeds=counts.unchanged_feeds,
            failed_feeds=counts.failed,
            unchanged_entries=counts.unchanged_entries,
            added=report.added if report else (),
            updated=report.updated if report else (),
            skipped=tuple(found.skipped),
            problems=tuple(found.problems),
        )

    def _poll_one(self, url: str, collector: Collector, counts: _Counts) -> list[Seen] | None:
        """What to remember of a feed (or watched page) and its entries; None if it failed.

        It is asked for conditionally only while all it gave is still indexed: an
        article taken out (or an index built anew) brings it back.
        """
        known = self.state.get(url)
        current = known if known is not None and known.indexed(collector.indexed) else None
        try:
            fetched = self.fetcher.get(
                url,
                etag=current.etag if current else None,
                last_modified=current.last_modified if current else None,
            )
            if fetched.not_modified:
                counts.unchanged_feeds += 1
                return []
            if fetched.kind == "html":  # a page watched for changes
                return [_seen(url, fetched, (collector.page(fetched),))]
            feed = parse_feed(
                fetched.body, fetched.url, max_entries=self.fetcher.settings.feed_max_entries
            )
        except QAError as exc:
            collector.found.problems.append(str(exc))
            return None
        collector.found.problems.extend(feed.problems)
        remember: list[Seen] = []
        complete = True
        for entry in feed.entries:
            before = self.state.get(entry.link)
            indexed = before is not None and before.indexed(collector.indexed)
            if before is not None and indexed and before.stamp == entry.stamp:
                counts.unchanged_entries += 1
                remember.append(before)
                continue
            seen = collector.entry(entry, known=before if indexed else None)
            if seen is None:
                complete = False  # the feed is fetched whole next time, to try it again
            else:
                remember.append(seen)
        if complete:
            ids = tuple(dict.fromkeys(a for seen in remember for a in seen.article_ids))
            remember.append(_seen(url, fetched, ids))
        return remember

    def run(self, every: float, report: Callable[[PollReport], None]) -> None:
        """Poll, then wait ``every`` seconds, until ``stop`` is set; a poll that fails is
        reported as a problem and the next one comes as usual."""
        while not self.stop.is_set():
            try:
                result = self.poll()
            except QAError as exc:
                result = PollReport(feeds=len(self.feeds), problems=(str(exc),))
            except Exception as exc:  # the watcher outlives one bad poll
                log.exception("the poll failed")
                problem = f"the poll failed: unexpected {type(exc).__name__}: {exc}"
                result = PollReport(feeds=len(self.feeds), problems=(problem,))
            report(result)
            self.stop.wait(every)


@dataclass(slots=True)
class _Counts:
    unchanged_feeds: int = 0
    unchanged_entries: int = 0
    failed: int = 0


def _seen(url: str, fetched: Fetched, article_ids: tuple[str, ...]) -> Seen:
    return Seen(url, fetched.etag, fetched.last_modified, None, article_ids)


class IndexSink:
    """The index of the settings' store, as `qa index --add` writes it; a running server
    picks it up. One store for every poll (a database store keeps its connections)."""

    def __init__(self, settings: Settings, encoder: Callable[[], Encoder]) -> None:
        from qa.store import get_store

        self.settings = settings
        self.encoder = encoder
        self.store = get_store(settings)

    def indexed(self) -> Mapping[str, Article]:
        try:
            return self.store.open().documents.articles
        except IndexMissingError:
            return {}

    def add(self, articles: Sequence[Article]) -> BuildReport:
        from qa.indexing import build

        exists = self.store.current_version() is not None
        return build(self.store, articles, self.settings, self.encoder, add=exists)

    def close(self) -> None:
        self.store.close()


class ServiceSink:
    """A running server's Service, called from the watcher's thread."""

    def __init__(
        self, service: Service, loop: asyncio.AbstractEventLoop, stop: threading.Event
    ) -> None:
        self.service = service
        self.loop = loop
        self.stop = stop

    def indexed(self) -> Mapping[str, Article]:
        if not self.service.ready:
            return {}
        return self.service.retriever().snapshot.documents.articles

    def add(self, articles: Sequence[Article]) -> BuildReport:
        future = asyncio.run_coroutine_threadsafe(self.service.add(articles), self.loop)
        while True:  # never wait for a loop that is shutting down
            try:
                return future.result(timeout=0.5).report
            except TimeoutError:
                if self.stop.is_set():
                    future.cancel()
                    raise QAError("not indexed: the server is stopping") from None


@contextlib.asynccontextmanager
async def watching(service: Service, settings: Settings) -> AsyncIterator[None]:
    """Run the watcher inside `qa serve` while it serves (QA_WATCH_FEEDS, --watch).

    The server fetches only from public addresses, feeds and their pages alike, unless
    QA_FETCH_ALLOW_NETWORKS lists the network.
    """
    if not settings.watch_feeds:
        yield
        return
    stop = threading.Event()
    sink = ServiceSink(service, asyncio.get_running_loop(), stop)
    state = open_state(settings)
    watcher = Watcher(
        settings.watch_feeds,
        settings,
        sink,
        state,
        guard=AddressGuard(settings.fetch_allow_networks),
        stop=stop,
    )
    task = asyncio.create_task(_serve_watching(watcher, service, settings), name="qa-watch")
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, settings.fetch_timeout + 5)
        state.close()


async def _serve_watching(watcher: Watcher, service: Service, settings: Settings) -> None:
    while service.problem == "loading" and not watcher.stop.is_set():
        await asyncio.sleep(0.1)  # the first poll needs to know what is indexed
    log.info("watching %d feeds every %g s", len(watcher.feeds), settings.watch_every)
    await asyncio.to_thread(watcher.run, settings.watch_every, _log_report)


def _log_report(report: PollReport) -> None:
    for problem in report.problems:
        log.warning("%s", problem)
    log.info("%s", report.summary())
