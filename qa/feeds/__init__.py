"""Articles from the web: pages by URL, RSS and Atom feeds, and a watcher that polls them.

fetch (httpx, politely and within limits), guard (public addresses only, in the
server), robots (robots.txt), feed (feedparser), pages (a page as an article),
collect (deduplicated articles from URLs), state (what the watcher remembers) and
watch (the watcher, for `qa watch` and `qa serve --watch`).
"""

from qa.feeds.collect import Collected, Collector, Skipped, is_url
from qa.feeds.fetch import Fetched, Fetcher
from qa.feeds.guard import AddressGuard
from qa.feeds.watch import IndexSink, PollReport, Watcher, watching

__all__ = [
    "AddressGuard",
    "Collected",
    "Collector",
    "Fetched",
    "Fetcher",
    "IndexSink",
    "PollReport",
    "Skipped",
    "Watcher",
    "is_url",
    "watching",
]
