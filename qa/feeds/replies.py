"""What a site answers, read: a page or a feed (by content type, or by the first element
of XML), its status in words, how long a Retry-After asks; and which URLs are fetched."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from http import HTTPStatus
from urllib.parse import urlsplit

import httpx

from qa.errors import FetchError

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml"})
XML_TYPES = frozenset({"application/xml", "text/xml"})
_FIRST_TAG = re.compile(rb"<([A-Za-z][\w:.-]*)")
_FEED_ROOTS = frozenset({b"rss", b"feed", b"rdf:rdf"})


def check_url(url: str, *, redirected_from: str | None = None) -> str:
    """``url`` if it is an http(s) address with a host; FetchError says what is wrong."""
    where = f"{redirected_from}: redirected to {url}" if redirected_from else url
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
        httpx.URL(url.strip())  # what the client will send: no control characters
    except (ValueError, httpx.InvalidURL) as exc:
        raise FetchError(f"{where!r}: not a usable address ({exc}); check it") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(
            f"{where}: only http and https addresses are fetched, not "
            f"{parts.scheme + ':' if parts.scheme else 'an address without a scheme'}"
        )
    if not parts.hostname:
        raise FetchError(f"{where}: the address has no host name")
    return url.strip()


def retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for: a number, or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def content_type(headers: httpx.Headers) -> str:
    return str(headers.get("content-type", "")).split(";")[0].strip().lower()


def body_kind(url: str, content_type: str, body: bytes | None) -> str:
    """The body's kind, "html" or "feed"; XML or an untyped body by its first element.

    With ``body`` None (only the headers are in) an XML or untyped answer is let through.
    """
    if content_type in HTML_TYPES:
        return "html"
    if content_type in FEED_TYPES:
        return "feed"
    if content_type in XML_TYPES or not content_type:
        if body is None:
            return ""
        match = _FIRST_TAG.search(body[:8192])
        root = match.group(1).lower() if match else b""
        if root in _FEED_ROOTS:
            return "feed"
        if root == b"html":
            return "html"
    raise FetchError(
        f"{url}: the content type is {content_type or 'not given'}, neither an HTML page "
        "nor an RSS or Atom feed; give the address of a page or a feed"
    )


def status_text(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)
