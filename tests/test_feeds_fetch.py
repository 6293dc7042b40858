"""Fetching pages and feeds from a local site: limits, retries, redirects, robots.txt,
politeness and the address guard. Nothing here leaves 127.0.0.0/8."""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qa.config import Settings, parse_duration
from qa.errors import FetchError, UnsafeAddressError
from qa.feeds.fetch import Fetcher, Pacer
from qa.feeds.guard import AddressGuard
from qa.feeds.replies import retry_after
from tests.site import Reply, Site, serving

PAGE = (
    "<html><body><article><p>The mayor opened the new bridge on Sunday.</p></article></body></html>"
)


@pytest.fixture
def site() -> Iterator[Site]:
    with serving() as running:
        yield running


def fetcher(**settings: Any) -> Fetcher:
    """A fetcher without the politeness pause (tested on its own) and with quick retries."""
    options: dict[str, Any] = {"fetch_host_interval": 0, "fetch_backoff": 0.01, **settings}
    return Fetcher(Settings(**options), pacer=Pacer())


def test_a_page_is_fetched_with_qa_s_user_agent(site: Site) -> None:
    url = site.put("/a", Reply(PAGE))
    fetched = fetcher().get(url)
    assert (fetched.status, fetched.kind, fetched.url) == (200, "html", url)
    assert fetched.body == PAGE.encode()
    agent = site.hits("/a")[0].headers["user-agent"]
    assert agent.startswith("qa/")
    fetcher(user_agent="NewsroomBot/2.0").get(url)
    assert site.hits("/a")[1].headers["user-agent"] == "NewsroomBot/2.0"


def test_a_second_fetch_with_the_validators_is_answered_304(site: Site) -> None:
    url = site.put("/a", Reply(PAGE, etag='"v1"', last_modified="Sat, 01 Aug 2026 09:30:00 GMT"))
    first = fetcher().get(url)
    assert (first.etag, first.last_modified) == ('"v1"', "Sat, 01 Aug 2026 09:30:00 GMT")
    again = fetcher().get(url, etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified and again.body == b""
    assert site.hits("/a")[1].headers["if-none-match"] == '"v1"'


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply("gone", status=404), "answered 404 Not Found"),
        (Reply("no", status=410), "answered 410 Gone"),
        (Reply(b"\x89PNG", content_type="image/png"), "content type is image/png, neither"),
        (Reply("just text", content_type="text/plain"), "content type is text/plain"),
        (Reply("<x/>", content_type=None), "content type is not given"),
        (Reply("<data/>", content_type="application/xml"), "application/xml, neither"),
    ],
)
def test_bad_answers_are_errors_naming_the_url(site: Site, reply: Reply, message: str) -> None:
    url = site.put("/bad", reply)
    with pytest.raises(FetchError, match=message) as error:
        fetcher().get(url)
    assert str(error.value).startswith(f"{url}: ")


@pytest.mark.parametrize(
    ("content_type", "body", "kind"),
    [
        ("application/rss+xml", "<rss version='2.0'/>", "feed"),
        ("application/xml", "<?xml version='1.0'?>\n<rss version='2.0'/>", "feed"),
        ("text/xml; charset=utf-8", "<feed xmlns='http://www.w3.org/2005/Atom'/>", "feed"),
        (None, "<!DOCTYPE html><html><body>x</body></html>", "html"),
        ("application/xhtml+xml", "<html/>", "html"),
    ],
)
def test_feeds_and_pages_are_told_apart(
    site: Site, content_type: str | None, body: str, kind: str
) -> None:
    url = site.put("/x", Reply(body, content_type=content_type))
    assert fetcher().get(url).kind == kind


def test_a_5xx_is_tried_again_with_backoff(site: Site) -> None:
    url = site.put("/flaky", lambda _, n: Reply("busy", status=503) if n < 2 else Reply(PAGE))
    assert fetcher(fetch_retries=2).get(url).status == 200
    assert len(site.hits("/flaky")) == 3


def test_a_5xx_that_lasts_is_an_error_after_the_retries(site: Site) -> None:
    url = site.put("/down", Reply("down", status=502))
    with pytest.raises(FetchError, match=r"502 Bad Gateway \(3 tries\); try again later"):
        fetcher(fetch_retries=2).get(url)
    assert len(site.hits("/down")) == 3


def test_retry_after_is_honoured(site: Site) -> None:
    url = site.put(
        "/limited",
        lambda _, n: (
            Reply("slow down", status=429, headers={"Retry-After": "1"}) if n == 0 else Reply(PAGE)
        ),
    )
    assert fetcher().get(url).status == 200
    first, second = site.hits("/limited")
    assert second.at - first.at >= 0.95  # the server asked for a second, not the backoff


def test_a_retry_after_too_long_gives_up_at_once(site: Site) -> None:
    url = site.put("/later", Reply("", status=503, headers={"Retry-After": "3600"}))
    with pytest.raises(FetchError, match="asks to wait 3600 s"):
        fetcher(fetch_max_retry_after=60).get(url)
    assert len(site.hits("/later")) == 1


def test_a_slow_server_times_out(site: Site) -> None:
    url = site.put("/slow", Reply(PAGE, delay=5))
    with pytest.raises(FetchError, match=r"no complete answer within 0.3 s \(QA_FETCH_TIMEOUT\)"):
        fetcher(fetch_timeout=0.3).get(url)


def test_a_closed_port_is_an_error_after_the_retries() -> None:
    with serving() as gone:
        url = gone.url("/a")
    with pytest.raises(FetchError, match="cannot connect"):
        fetcher(fetch_retries=1).get(url)


def redirect(to: str) -> Reply:
    return Reply("", status=302, headers={"Location": to})


def test_redirects_are_followed_up_to_five(site: Site) -> None:
    site.put("/end", Reply(PAGE))
    for hop in range(5):
        site.put(f"/r{hop}", redirect(f"/r{hop + 1}" if hop < 4 else "/end"))
    fetched = fetcher().get(site.url("/r0"))
    assert fetched.url == site.url("/end")
    site.put("/s0", redirect("/r0"))  # six redirects
    with pytest.raises(FetchError, match="more than 5 redirects"):
        fetcher().get(site.url("/s0"))


def test_a_redirect_loop_is_an_error(site: Site) -> None:
    site.put("/a", redirect("/b"))
    site.put("/b", redirect(site.url("/a")))
    with pytest.raises(FetchError, match=r"redirect loop \(.*/a -> .*/b -> .*/a\)"):
        fetcher().get(site.url("/a"))


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_refused(site: Site, chunked: bool) -> None:
    url = site.put("/big", Reply(PAGE + " " * 5000, chunked=chunked))
    with pytest.raises(FetchError, match=r"over 0.001 MB \(QA_MAX_UPLOAD_BYTES\)"):
        fetcher(max_upload_bytes=1000).get(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "only http and https addresses are fetched, not file:"),
        ("ftp://example.com/feed.xml", "not ftp:"),
        ("example.com/news", "not an address without a scheme"),
        ("http:///news", "the address has no host name"),
        ("https://example.com/a\rb", "not a usable address"),  # found by schemathesis
        ("http://example.com:99999/", "not a usable address"),
        ("http://[::1/", "not a usable address"),
    ],
)
def test_only_http_and_https_are_fetched(url: str, message: str) -> None:
    with pytest.raises(FetchError, match=message):
        fetcher().get(url)


def test_a_redirect_to_another_scheme_is_refused(site: Site) -> None:
    url = site.put("/a", redirect("file:///etc/passwd"))
    with pytest.raises(FetchError, match="redirected to file:///etc/passwd: only http"):
        fetcher().get(url)


def test_robots_txt_is_read_once_and_obeyed(site: Site) -> None:
    site.put(
        "/robots.txt", Reply("User-agent: qa\nDisallow: /private/\n", content_type="text/plain")
    )
    site.put("/private/a", Reply(PAGE))
    open_url = site.put("/public/a", Reply(PAGE))
    one = fetcher()
    with pytest.raises(FetchError, match=r"robots\.txt does not allow 'qa/"):
        one.get(site.url("/private/a"))
    one.get(open_url)
    one.get(open_url)
    assert site.hits("/private/a") == []
    assert len(site.hits("/robots.txt")) == 1
    # Rules for other robots do not apply to qa.
    assert fetcher(user_agent="OtherBot/1").get(site.url("/private/a")).status == 200


def test_a_missing_robots_txt_allows_and_a_broken_one_forbids(site: Site) -> None:
    url = site.put("/a", Reply(PAGE))
    assert fetcher().get(url).status == 200  # robots.txt: 404
    site.put("/robots.txt", Reply("oops", status=500, content_type="text/plain"))
    with pytest.raises(FetchError, match=r"robots\.txt cannot be read"):
        fetcher(fetch_retries=0).get(url)
    assert len(site.hits("/a")) == 1


def test_two_requests_to_one_host_are_a_second_apart(site: Site) -> None:
    urls = [site.put(f"/p{n}", Reply(PAGE)) for n in range(2)]
    polite = Fetcher(Settings(fetch_host_interval=1.0), pacer=Pacer())
    threads = [threading.Thread(target=polite.get, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = sorted(r.at for r in site.requests)  # robots.txt and the two pages
    assert len(times) == 3
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(times))


def test_a_crawl_delay_asks_for_more(site: Site) -> None:
    site.put("/robots.txt", Reply("User-agent: *\nCrawl-delay: 2\n", content_type="text/plain"))
    urls = [site.put(f"/p{n}", Reply(PAGE)) for n in range(2)]
    polite = fetcher()
    for url in urls:
        polite.get(url)
    first, second = (r.at for r in site.requests if r.path.startswith("/p"))
    assert second - first >= 1.95


# -- the address guard ------------------------------------------------------------


def guarded(*allow: str, **settings: Any) -> Fetcher:
    networks = [ipaddress.ip_network(n) for n in allow]
    options: dict[str, Any] = {"fetch_host_interval": 0, **settings}
    return Fetcher(Settings(**options), guard=AddressGuard(networks), pacer=Pacer())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "169.254.169.254"])
def test_the_guard_refuses_non_public_addresses(host: str) -> None:
    with pytest.raises(UnsafeAddressError, match="QA_FETCH_ALLOW_NETWORKS"):
        guarded().get(f"http://{host}:9/latest/meta-data")


def test_an_allowed_network_is_fetched_from(site: Site) -> None:
    url = site.put("/a", Reply(PAGE))
    assert guarded("127.0.0.0/8").get(url).body == PAGE.encode()
    assert site.hits("/a")[0].headers["host"] == site.base.removeprefix("http://")


def test_a_redirect_out_of_the_allowed_network_is_refused(site: Site) -> None:
    url = site.put("/a", redirect("http://127.0.0.2:9/admin"))
    with pytest.raises(UnsafeAddressError, match=r"127\.0\.0\.2, a loopback address"):
        guarded("127.0.0.1/32").get(url)


def test_an_unknown_host_is_an_error() -> None:
    with pytest.raises(FetchError, match="cannot be found"):
        guarded().get("http://no-such-host.invalid/")


@given(st.ip_addresses())
def test_the_guard_permits_exactly_the_public_addresses(address: Any) -> None:
    guard = AddressGuard()
    plain = getattr(address, "ipv4_mapped", None) or address  # ::ffff:a.b.c.d is a.b.c.d
    assert guard.permits(address) == (plain.is_global and not plain.is_multicast)
    if address.version == 4:  # the same address written as IPv4-mapped IPv6
        mapped = ipaddress.IPv6Address(f"::ffff:{address}")
        assert guard.permits(mapped) == guard.permits(address)


@given(st.ip_addresses(v=4))
def test_an_allowed_network_permits_its_addresses(address: ipaddress.IPv4Address) -> None:
    network = ipaddress.ip_network(f"{address}/24", strict=False)
    assert AddressGuard([network]).permits(address)


# -- small parsers ---------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=10**6))
def test_retry_after_in_seconds(seconds: int) -> None:
    assert retry_after(str(seconds)) == seconds


def test_retry_after_as_a_date() -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    assert 25 <= (retry_after(email.utils.format_datetime(when, usegmt=True)) or 0) <= 31
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # past: no wait
    assert retry_after("soon") is None and retry_after(None) is None


@given(
    st.integers(min_value=0, max_value=99),
    st.integers(min_value=0, max_value=59),
    st.integers(min_value=0, max_value=59),
)
def test_durations(hours: int, minutes: int, seconds: int) -> None:
    text = f"{hours}h{minutes}m{seconds}s"
    assert parse_duration(text) == hours * 3600 + minutes * 60 + seconds
    assert parse_duration(str(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "soon", "15 minutes", "m15", "1x"])
def test_a_bad_duration_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="write it as seconds or like 30s, 15m, 1h"):
        parse_duration(text)


def test_settings_read_networks_feeds_and_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_FETCH_ALLOW_NETWORKS", "127.0.0.0/8, 10.0.0.0/8")
    monkeypatch.setenv("QA_WATCH_FEEDS", "https://a.example/rss,https://b.example/atom")
    monkeypatch.setenv("QA_WATCH_EVERY", "15m")
    settings = Settings()
    assert [str(n) for n in settings.fetch_allow_networks] == ["127.0.0.0/8", "10.0.0.0/8"]
    assert settings.watch_feeds == ["https://a.example/rss", "https://b.example/atom"]
    assert settings.watch_every == 900
