"""A fetched page as an article: trafilatura's text and metadata (as for .html files), an
id from its canonical url, and what a feed said of it where the page is silent."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from qa.corpus.load import make_article, read_html
from qa.corpus.meta import Meta
from qa.feeds.fetch import Fetched
from qa.types import Article

# Query parameters that only say how a reader arrived; the same page without them.
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|mc_cid|mc_eid|ocid|cmpid|ref_src)$", re.I)
_ID_HOST_MAX = 60
_ID_SLUG_MAX = 80


def page_article(fetched: Fetched, fallback: Meta | None = None) -> Article:
    """The article in an HTML page; CorpusError (naming the url) when it holds none.

    The page's own title, author, date and site name win; ``fallback`` (a feed
    entry's) fills what it lacks, and the host name comes last as the outlet.
    """
    text, page, site = read_html(fetched.body, where=fetched.url, url=fetched.url)
    url = canonical_url(page.url, fetched.url)
    meta = page.over(fallback or Meta()).over(Meta(outlet=site))
    meta = replace(meta, id=url_id(url), url=url)
    return make_article(text, meta, origin=fetched.url, markdown=False)


def canonical_url(declared: str | None, fetched: str) -> str:
    """The page's canonical url when it is on the same site, else where it was fetched.

    A canonical url on another site is not trusted: it would give the page the id of
    that site's article, and replace it.
    """
    base = normalise_url(fetched)
    if not declared:
        return base
    candidate = normalise_url(declared)
    if urlsplit(candidate).scheme in ("http", "https") and _site(candidate) == _site(base):
        return candidate
    return base


def normalise_url(url: str) -> str:
    """One spelling per page: lower-case scheme and host, no default port, no fragment,
    no tracking parameters."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, default) else f"{host}:{port}"
    if ":" in host:  # IPv6
        netloc = f"[{host}]" if port in (None, default) else f"[{host}]:{port}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING.match(k)
        ]
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def url_id(url: str) -> str:
    """A readable id that is the same for every fetch of the page:
    'example.com:world-2022-08-01-grain-corridor-1a2b3c4d5e6f'."""
    parts = urlsplit(url)
    try:
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except UnicodeError:
        host = parts.hostname or ""
    host = re.sub(r"[^a-z0-9.-]+", "-", host.removeprefix("www.").lower()).strip("-.")
    host = host[:_ID_HOST_MAX].rstrip("-.") or "web"
    path = unquote(parts.path + (f"?{parts.query}" if parts.query else ""))
    slug = re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-")[-_ID_SLUG_MAX:].strip("-")
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]
    return f"{host}:{slug}-{digest}" if slug else f"{host}:{digest}"


def _site(url: str) -> str:
    """The host, less a leading www., m. or amp.: those serve one site's pages."""
    host = (urlsplit(url).hostname or "").lower()
    return re.sub(r"^(?:www\d*|m|amp)\.", "", host)
