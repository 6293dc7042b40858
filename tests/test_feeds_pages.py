"""Feeds read with feedparser, and fetched pages made articles: metadata, ids, dedup."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qa.config import Settings
from qa.corpus.load import load
from qa.corpus.meta import ID, Meta
from qa.errors import CorpusError, FetchError
from qa.feeds.collect import Collector
from qa.feeds.feed import parse_feed
from qa.feeds.fetch import Fetched, Fetcher, Pacer
from qa.feeds.pages import canonical_url, normalise_url, page_article, url_id
from tests.site import WEB, Reply, Site, serving

BASE = "https://wire.example"


def web_file(name: str, base: str = BASE) -> bytes:
    return (WEB / name).read_text(encoding="utf-8").replace("{base}", base).encode()


def test_an_rss_feed_gives_its_entries_with_title_author_and_date() -> None:
    feed = parse_feed(web_file("news.rss"), f"{BASE}/news.rss", max_entries=100)
    assert feed.title == "Example Wire: Europe"
    assert [e.link for e in feed.entries] == [
        f"{BASE}/news/grain-ship",
        f"{BASE}/news/volcano",
        f"{BASE}/news/tram-line",
    ]
    volcano = feed.entries[1]
    assert volcano.meta == Meta(
        title="Volcano erupts near Grindavik",
        outlet="Example Wire: Europe",
        author="Sigrun Jonsdottir",
        published="2026-08-02",
    )
    assert volcano.stamp == "Sun, 02 Aug 2026 23:10:00 GMT"


def test_an_atom_feed_gives_its_entries() -> None:
    feed = parse_feed(web_file("world.atom"), f"{BASE}/world.atom", max_entries=2)
    assert feed.title == "North Atlantic Post"
    assert [e.meta.title for e in feed.entries] == [
        "Grain ship leaves Odesa",
        "Grain ship leaves Odesa (syndicated)",
    ]
    assert feed.entries[0].meta.published == "2026-08-01"
    assert feed.problems == (
        f"{BASE}/world.atom: only its first 2 entries were read of 3 (QA_FEED_MAX_ENTRIES)",
    )


def test_relative_links_are_resolved_and_entries_without_one_noted() -> None:
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
    <item><title>Relative</title><link>/news/a</link></item>
    <item><title>No link at all</title></item></channel></rss>"""
    feed = parse_feed(rss, f"{BASE}/feeds/main.rss", max_entries=10)
    assert [e.link for e in feed.entries] == [f"{BASE}/news/a"]
    assert feed.problems == (
        f"{BASE}/feeds/main.rss: the entry 'No link at all' has no link; it was left out",
    )


@pytest.mark.parametrize("body", [b"<html><body>a page</body></html>", b"{}", b"<rss"])
def test_a_feed_that_does_not_parse_is_an_error(body: bytes) -> None:
    with pytest.raises(FetchError, match=f"{BASE}/f: not a feed that can be read"):
        parse_feed(body, f"{BASE}/f", max_entries=10)


def test_a_page_becomes_an_article_as_its_file_would(tmp_path: Path) -> None:
    fetched = Fetched(f"{BASE}/amp/grain-ship?utm_source=x", 200, web_file("grain.html"), "html")
    article = page_article(fetched)
    (tmp_path / "grain.html").write_bytes(web_file("grain.html"))
    from_file = load([tmp_path / "grain.html"]).articles[0]
    assert article.text == from_file.text  # the same cleaning, so the same offsets
    assert article.source.url == f"{BASE}/news/grain-ship"  # its canonical url
    assert article.id == url_id(f"{BASE}/news/grain-ship")
    assert article.id.startswith("wire.example:news-grain-ship-")
    assert (article.source.title, article.source.outlet, article.source.author) == (
        "First grain ship leaves Odesa under UN-brokered deal",
        "Example Wire",
        "Jane Doe",
    )
    assert article.source.published == "2026-08-01"


def test_the_feed_fills_what_the_page_lacks_and_the_page_wins_elsewhere() -> None:
    fetched = Fetched(f"{BASE}/news/volcano", 200, web_file("volcano.html"), "html")
    entry = Meta(title="Volcano!", author="Sigrun Jonsdottir", published="2026-08-02", outlet="F")
    source = page_article(fetched, entry).source
    assert source.title == "Volcano erupts near Grindavik after weeks of earthquakes"
    assert source.outlet == "North Atlantic Post"
    assert (source.author, source.published) == ("Sigrun Jonsdottir", "2026-08-02")


def test_a_page_without_a_site_name_takes_the_feed_s_then_its_host() -> None:
    page = (
        b"<html><head><title>Bridge opens</title></head><body><article><p>"
        + (b"The mayor opened the new bridge over the river on Sunday morning. " * 3)
        + b"</p></article></body></html>"
    )
    fetched = Fetched("https://www.town.example/bridge", 200, page, "html")
    assert page_article(fetched, Meta(outlet="Town News")).source.outlet == "Town News"
    assert page_article(fetched).source.outlet == "town.example"


def test_a_page_with_no_article_text_is_an_error() -> None:
    fetched = Fetched(f"{BASE}/empty", 200, b"<html><body><nav>Home</nav></body></html>", "html")
    with pytest.raises(CorpusError, match=f"{BASE}/empty: no article text"):
        page_article(fetched)


def test_a_canonical_url_on_another_site_is_not_trusted() -> None:
    assert canonical_url("https://other.example/story", f"{BASE}/a") == f"{BASE}/a"
    assert canonical_url("https://www.wire.example/story", f"{BASE}/a") == (
        "https://www.wire.example/story"
    )
    assert canonical_url(None, f"{BASE}/a#top") == f"{BASE}/a"
    assert canonical_url("javascript:alert(1)", f"{BASE}/a") == f"{BASE}/a"


_segment = st.text(alphabet="abcXYZ019-_.~%é", min_size=0, max_size=12)


@given(
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(["wire.example", "WWW.Wire.Example", "news.wire.example:8443", "[::1]:8080"]),
    st.lists(_segment, max_size=5),
    st.dictionaries(st.sampled_from(["id", "page", "q"]), _segment, max_size=2),
    st.dictionaries(st.sampled_from(["utm_source", "utm_campaign", "fbclid"]), _segment),
)
def test_ids_are_valid_stable_and_ignore_tracking(
    scheme: str,
    host: str,
    path: list[str],
    query: dict[str, str],
    tracking: dict[str, str],
) -> None:
    from urllib.parse import urlencode

    url = f"{scheme}://{host}/{'/'.join(path)}"
    plain = normalise_url(url + (f"?{urlencode(query)}" if query else ""))
    tracked = normalise_url(url + "?" + urlencode({**query, **tracking}) + "#comments")
    assert plain == tracked
    assert normalise_url(plain) == plain
    article_id = url_id(plain)
    assert ID.match(article_id), article_id
    assert url_id(plain) == article_id


def test_a_story_met_twice_is_one_article() -> None:
    with serving() as site:
        _put_grain(site)
        found = Collector(Fetcher(Settings(fetch_host_interval=0), pacer=Pacer()), {}).urls(
            [
                site.url("/news/grain-ship"),
                site.url("/amp/grain-ship?utm_source=atom"),
                site.url("/syndicated/grain"),
            ]
        )
    assert list(found.articles) == [url_id(site.url("/news/grain-ship"))]
    reasons = [s.reason for s in found.skipped]
    assert reasons[0] == "the same article was met earlier in this run"  # same canonical url
    assert reasons[1].startswith("the same text as the article ")  # no canonical, same text
    assert found.problems == []


def test_an_indexed_page_is_skipped_when_unchanged() -> None:
    with serving() as site:
        _put_grain(site)
        fetcher = Fetcher(Settings(fetch_host_interval=0), pacer=Pacer())
        first = Collector(fetcher, {}).urls([site.url("/news/grain-ship")])
        again = Collector(fetcher, first.articles).urls([site.url("/news/grain-ship")])
    assert again.articles == {}
    assert [s.reason for s in again.skipped] == ["unchanged since it was indexed"]


def _put_grain(site: Site) -> None:
    site.put_file("/news/grain-ship", "grain.html")
    site.put_file("/amp/grain-ship", "grain.html")
    site.put_syndicated("/syndicated/grain")
    site.put("/robots.txt", Reply("User-agent: *\nAllow: /\n", content_type="text/plain"))
