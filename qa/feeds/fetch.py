"""Fetch a page or a feed politely and within limits; every failure is a FetchError
whose message names the URL and says why.

Redirects are followed by hand (five at most) so that each hop is checked like the
first: its scheme, robots.txt, and (in the server) its address. A 429 or 5xx is tried
again after a pause that doubles, or as long as Retry-After asks. Two requests to one
host are at least ``QA_FETCH_HOST_INTERVAL`` seconds apart, across threads.
"""

from __future__ import annotations

import functools
import ssl
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import httpx

from qa.config import Settings
from qa.errors import FetchError
from qa.feeds.guard import AddressGuard
from qa.feeds.replies import body_kind, check_url, content_type, retry_after, status_text
from qa.feeds.robots import ROBOTS_MAX_BYTES, Robots

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Fetched:
    """A page or feed as fetched; ``status`` 304 means unchanged since the validators given."""

    url: str  # where the body came from, after redirects
    status: int
    body: bytes = b""
    kind: str = ""  # "html" or "feed"
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == HTTPStatus.NOT_MODIFIED


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    headers: httpx.Headers
    body: bytes = b""


class Pacer:
    """Spaces the requests to each host; a slot is reserved under the lock, then waited for."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str, interval: float, stop: threading.Event) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, 0.0))
            self._next[host] = start + interval
        if start > now:
            stop.wait(start - now)


# One per process: politeness is owed per host, whoever in the process is asking.
PACER = Pacer()


class Fetcher:
    """Fetches pages and feeds; holds no connection between calls, so needs no closing."""

    def __init__(
        self,
        settings: Settings,
        *,
        guard: AddressGuard | None = None,
        robots: Robots | None = None,
        pacer: Pacer = PACER,
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.guard = guard
        self.robots = robots or Robots()
        self.pacer = pacer
        self.stop = stop or threading.Event()
        self._delays: dict[str, float] = {}  # robots.txt Crawl-delay, per host

    def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        """The page or feed at ``url``; a 304 when ``etag``/``last_modified`` still hold."""
        headers = {
            "Accept": "text/html, application/xhtml+xml, application/rss+xml, "
            "application/atom+xml, application/xml;q=0.9, */*;q=0.1"
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        with httpx.Client(
            timeout=self.settings.fetch_timeout,
            headers={"User-Agent": self.settings.user_agent},
            follow_redirects=False,
            verify=_tls(),
        ) as client:
            final, reply = self._follow(client, url, headers, page=True)
        validators = {
            "etag": reply.headers.get("etag"),
            "last_modified": reply.headers.get("last-modified"),
        }
        if reply.status == HTTPStatus.NOT_MODIFIED:
            return Fetched(final, reply.status, **validators)
        kind = body_kind(final, content_type(reply.headers), reply.body)
        return Fetched(final, reply.status, reply.body, kind, **validators)

    # -- redirects, robots.txt ------------------------------------------------------

    def _follow(
        self, client: httpx.Client, url: str, headers: dict[str, str], *, page: bool
    ) -> tuple[str, _Reply]:
        """The answer at the end of the redirects; ``page`` False for robots.txt itself."""
        seen = [check_url(url)]
        while True:
            current = seen[-1]
            if page:
                self._target(current)  # a refused address is said so, before robots.txt
                self._allowed(client, current)
            limit = None if page else ROBOTS_MAX_BYTES
            reply = self._send(client, current, headers, page=page, limit=limit)
            location = reply.headers.get("location")
            if reply.status not in _REDIRECTS or not location:
                return current, reply
            target = urljoin(current, location.strip())
            if target in seen:
                chain = " -> ".join([*seen[seen.index(target) :], target])
                raise FetchError(f"{url}: redirect loop ({chain}); check the address")
            if len(seen) > MAX_REDIRECTS:
                raise FetchError(
                    f"{url}: more than {MAX_REDIRECTS} redirects (the last to {target}); "
                    "give the address it ends at"
                )
            seen.append(check_url(target, redirected_from=current))

    def _allowed(self, client: httpx.Client, url: str) -> None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        agent = self.settings.user_agent.split()[0]

        def read(robots_url: str) -> str | None:
            try:
                _, reply = self._follow(client, robots_url, {}, page=False)
            except FetchError as exc:
                raise FetchError(
                    f"{url}: its site's robots.txt cannot be read ({exc}); qa fetches nothing "
                    "from a site whose robots.txt is unreachable; try again later"
                ) from None
            if reply.status != HTTPStatus.OK:
                return None  # none there (a 4xx): everything is allowed
            return reply.body.decode("utf-8", "replace")

        rules = self.robots.rules(origin, read)
        delay = rules.crawl_delay(agent)
        if delay is not None:  # asked for more than our own pause: kept, within reason
            self._delays[parts.hostname or ""] = min(
                float(delay), self.settings.fetch_max_retry_after
            )
        if not rules.can_fetch(agent, url):
            raise FetchError(
                f"{url}: the site's robots.txt does not allow {agent!r} to fetch it; "
                "ask the site or leave it out"
            )

    # -- one request, tried again on 429, 5xx and dropped connections -----------------

    def _send(
        self,
        client: httpx.Client,
        url: str,
        headers: dict[str, str],
        *,
        page: bool,
        limit: int | None = None,
    ) -> _Reply:
        settings = self.settings
        host = urlsplit(url).hostname or ""
        for attempt in range(settings.fetch_retries + 1):
            last = attempt == settings.fetch_retries
            pause = settings.fetch_backoff * 2**attempt
            self._pace(url, host)
            try:
                reply = self._once(client, url, headers, page=page, limit=limit)
            except httpx.TimeoutException:
                raise FetchError(
                    f"{url}: no complete answer within {settings.fetch_timeout:g} s "
                    "(QA_FETCH_TIMEOUT); try again later or raise QA_FETCH_TIMEOUT"
                ) from None
            except httpx.TransportError as exc:
                if last:
                    raise FetchError(
                        f"{url}: cannot connect ({exc or type(exc).__name__}); "
                        "check the address, or try again later"
                    ) from None
                self._pause(url, pause)
                continue
            status = reply.status
            if status == HTTPStatus.TOO_MANY_REQUESTS or 500 <= status <= 599:
                if last:
                    tries = f"{attempt + 1} tries" if attempt else "1 try"
                    raise FetchError(
                        f"{url}: the server answered {status_text(status)} ({tries}); "
                        "try again later"
                    )
                asked = retry_after(reply.headers.get("retry-after"))
                if asked is not None and asked > settings.fetch_max_retry_after:
                    raise FetchError(
                        f"{url}: the server answered {status_text(status)} and asks to wait "
                        f"{asked:g} s (over QA_FETCH_MAX_RETRY_AFTER); try again later"
                    )
                self._pause(url, pause if asked is None else asked)
                continue
            if page and status not in (HTTPStatus.OK, HTTPStatus.NOT_MODIFIED, *_REDIRECTS):
                raise FetchError(
                    f"{url}: the server answered {status_text(status)}; check the address"
                )
            return reply
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _once(
        self,
        client: httpx.Client,
        url: str,
        headers: dict[str, str],
        *,
        page: bool,
        limit: int | None,
    ) -> _Reply:
        limit = self.settings.max_upload_bytes if limit is None else limit
        target, extra, extensions = self._target(url)
        deadline = time.monotonic() + self.settings.fetch_timeout
        with client.stream(
            "GET", target, headers={**headers, **extra}, extensions=extensions
        ) as response:
            if response.status_code != HTTPStatus.OK:
                return _Reply(response.status_code, response.headers)
            if page:  # before the body: a video is refused without downloading it
                body_kind(url, content_type(response.headers), None)
            length = response.headers.get("content-length", "")
            if page and length.isdigit() and int(length) > limit:
                raise _too_large(url, limit)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    if not page:
                        break  # robots.txt: the first part is enough
                    raise _too_large(url, limit)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the body took too long")
                chunks.append(chunk)
            return _Reply(response.status_code, response.headers, b"".join(chunks))

    def _target(self, url: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """Where to send the request: in the server, to the one address checked as public."""
        if self.guard is None:
            return url, {}, {}
        parts = httpx.URL(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = self.guard.resolve(url, parts.host, port)
        pinned = parts.copy_with(host=str(address))
        host = parts.host if parts.port is None else f"{parts.host}:{parts.port}"
        return str(pinned), {"Host": host}, {"sni_hostname": parts.host}

    def _pace(self, url: str, host: str) -> None:
        if self.stop.is_set():
            raise FetchError(f"{url}: not fetched, qa is stopping")
        interval = max(self.settings.fetch_host_interval, self._delays.get(host, 0.0))
        self.pacer.wait(host, interval, self.stop)

    def _pause(self, url: str, seconds: float) -> None:
        if self.stop.wait(max(0.0, seconds)):
            raise FetchError(f"{url}: not fetched, qa is stopping")


@functools.cache
def _tls() -> ssl.SSLContext:
    """Loading the CA certificates takes longer than most fetches: once per process."""
    return httpx.create_ssl_context()


def _too_large(url: str, limit: int) -> FetchError:
    return FetchError(
        f"{url}: the answer is over {limit / 1_000_000:g} MB (QA_MAX_UPLOAD_BYTES); "
        "raise QA_MAX_UPLOAD_BYTES to read it"
    )
