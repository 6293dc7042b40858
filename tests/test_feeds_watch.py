"""The watcher against a local site: new and changed articles only, conditional requests
remembered between runs, one article per story, and failures that lose nothing.

Each test runs against both stores: the state in the index folder (local) and in the
store's PostgreSQL (milvus), where watchers on several machines share it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from qa.config import Settings
from qa.encoders.hashing import HashingEncoder
from qa.errors import IndexBusyError
from qa.feeds.pages import url_id
from qa.feeds.state import STATE_NAME, SqliteWatchState, open_state
from qa.feeds.watch import IndexSink, PollReport, Watcher
from qa.indexing import BuildReport
from qa.store import get_store
from qa.types import Article
from tests.conftest import FAKE_MODEL, STORES, Remote, store_environment
from tests.serving import qa_process
from tests.site import WEB, Reply, Site, serving

PAGES = {
    "/news/grain-ship": "grain.html",
    "/amp/grain-ship": "grain.html",
    "/news/volcano": "volcano.html",
    "/news/tram-line": "tram.html",
    "/news/ferry": "ferry.html",
}


def publish(site: Site) -> list[str]:
    """The test site's pages and its two feeds, each with an ETag; the feeds' URLs."""
    for path, name in PAGES.items():
        site.put_file(path, name, etag=f'"{name}-1"')
    site.put_syndicated("/syndicated/grain")
    site.put(
        "/robots.txt", Reply("User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    )
    return [
        site.put_file("/news.rss", "news.rss", etag='"rss-1"'),
        site.put_file("/world.atom", "world.atom", last_modified="Tue, 04 Aug 2026 10:00:00 GMT"),
    ]


@pytest.fixture
def site() -> Iterator[Site]:
    with serving() as running:
        yield running


@pytest.fixture(params=STORES)
def settings(request: pytest.FixtureRequest, fake_settings: Settings) -> Settings:
    """An empty store of each kind."""
    polite = {"fetch_host_interval": 0, "fetch_backoff": 0.01}
    if request.param == "local":
        return fake_settings.model_copy(update=polite)
    remote: Remote = request.getfixturevalue("remote")
    return remote.settings(fake_settings, **polite)


_CLOSE: list[Callable[[], None]] = []  # the connections of the watchers a test made


@pytest.fixture(autouse=True)
def _closed_at_the_end() -> Iterator[None]:
    yield
    while _CLOSE:
        _CLOSE.pop()()


def watcher(feeds: Sequence[str], settings: Settings, encoder: HashingEncoder) -> Watcher:
    """A watcher as a new `qa watch` process would make it."""
    return _watcher(feeds, settings, IndexSink(settings, lambda: encoder))


def _watcher(feeds: Sequence[str], settings: Settings, sink: IndexSink) -> Watcher:
    state = open_state(settings)
    _CLOSE.extend([sink.close, state.close])
    return Watcher(feeds, settings, sink, state)


def indexed(settings: Settings) -> Mapping[str, Article]:
    store = get_store(settings)
    try:
        return store.open().documents.articles
    finally:
        store.close()


def version(settings: Settings) -> str | None:
    store = get_store(settings)
    try:
        return store.current_version()
    finally:
        store.close()


def test_a_first_poll_adds_each_story_once(
    site: Site, settings: Settings, fake_encoder: HashingEncoder
) -> None:
    feeds = publish(site)
    report = watcher(feeds, settings, fake_encoder).poll()
    ids = {
        url_id(site.url(p))
        for p in ("/news/grain-ship", "/news/volcano", "/news/tram-line", "/news/ferry")
    }
    assert set(report.added) == ids == set(indexed(settings))
    assert report.problems == ()
    assert sorted(s.url.split("/", 3)[3] for s in report.skipped) == [
        "amp/grain-ship?utm_source=atom",  # the same canonical url
        "syndicated/grain",  # the same text
    ]
    # The state is beside the articles: in the index folder, or in PostgreSQL.
    assert (settings.index_dir / STATE_NAME).is_file() == (settings.store == "local")
    volcano = indexed(settings)[url_id(site.url("/news/volcano"))].source
    assert (volcano.author, volcano.published) == ("Sigrun Jonsdottir", "2026-08-02")


def test_a_second_poll_fetches_nothing_that_did_not_change(
    site: Site, settings: Settings, fake_encoder: HashingEncoder
) -> None:
    feeds = publish(site)
    watcher(feeds, settings, fake_encoder).poll()
    before = len(site.requests)
    written = version(settings)
    report = watcher(feeds, settings, fake_encoder).poll()  # a new run, as from cron
    asked = site.requests[before:]
    assert [r.path for r in asked] == ["/news.rss", "/world.atom"]
    assert asked[0].headers["if-none-match"] == '"rss-1"'
    assert asked[1].headers["if-modified-since"] == "Tue, 04 Aug 2026 10:00:00 GMT"
    assert report.unchanged_feeds == 2
    assert (report.added, report.updated, report.skipped) == ((), (), ())
    assert version(settings) == written  # nothing written
    assert report.summary().startswith("Polled 2 feeds (2 unchanged): 0 added, 0 updated")


def test_a_changed_feed_fetches_only_its_new_and_changed_entries(
    site: Site, settings: Settings, fake_encoder: HashingEncoder
) -> None:
    feeds = publish(site)
    watcher(feeds, settings, fake_encoder).poll()
    rss = (WEB / "news.rss").read_text().replace("{base}", site.base)
    rss = rss.replace("Mon, 03 Aug 2026 12:00:00 GMT", "Tue, 04 Aug 2026 08:00:00 GMT")  # tram
    rss = rss.replace(
        "</channel>",
        f"""<item><title>Ferry</title><link>{site.base}/news/ferry2</link>
        <pubDate>Tue, 04 Aug 2026 09:00:00 GMT</pubDate></item></channel>""",
    )
    site.put("/news.rss", Reply(rss, content_type="application/rss+xml", etag='"rss-2"'))
    tram = (WEB / "tram.html").read_text().replace("{base}", site.base)
    site.put("/news/tram-line", Reply(tram.replace("410 million", "430 million"), etag='"t-2"'))
    ferry = (WEB / "ferry.html").read_text().replace("{base}/news/ferry", "{base}/news/ferry2")
    ferry = ferry.replace("{base}", site.base).replace("three weeks", "four weeks")
    site.put("/news/ferry2", Reply(ferry))
    before = len(site.requests)
    report = watcher(feeds, settings, fake_encoder).poll()
    asked = site.requests[before:]
    assert [r.path for r in asked] == [
        "/news.rss",
        "/news/tram-line",
        "/news/ferry2",
        "/world.atom",
    ]
    assert asked[1].headers["if-none-match"] == '"tram.html-1"'
    tram_id = url_id(site.url("/news/tram-line"))
    assert report.updated == (tram_id,)
    assert report.added == (url_id(site.url("/news/ferry2")),)
    assert "430 million euros" in indexed(settings)[tram_id].text


def test_two_watchers_in_two_processes_share_the_state_in_postgresql(
    remote: Remote,
    site: Site,
    fake_settings: Settings,
    fake_encoder: HashingEncoder,
    tmp_path: Path,
) -> None:
    settings = remote.settings(fake_settings, fetch_host_interval=0)
    feeds = publish(site)
    assert len(watcher(feeds, settings, fake_encoder).poll().added) == 4
    written = version(settings)
    before = len(site.requests)
    elsewhere = tmp_path / "another-machine"  # its own folder: nothing shared on disk
    env = {
        **store_environment(settings),
        "QA_ENCODER": "hashing",
        "QA_MODEL": FAKE_MODEL,
        "QA_INDEX_DIR": str(elsewhere),
        "QA_FETCH_HOST_INTERVAL": "0",
    }
    done = qa_process("watch", *feeds, "--once", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Polled 2 feeds (2 unchanged): 0 added, 0 updated")
    asked = site.requests[before:]  # no robots.txt either: the first watcher read it
    assert [r.path for r in asked] == ["/news.rss", "/world.atom"]
    assert asked[0].headers["if-none-match"] == '"rss-1"'
    assert asked[1].headers["if-modified-since"] == "Tue, 04 Aug 2026 10:00:00 GMT"
    assert version(settings) == written  # nothing indexed again
    assert not (elsewhere / STATE_NAME).exists()


def test_an_entry_that_fails_is_warned_of_and_tried_again(
    site: Site, settings: Settings, fake_encoder: HashingEncoder
) -> None:
    feeds = publish(site)
    site.put("/news/volcano", Reply("busy", status=503))
    report = watcher(feeds, settings, fake_encoder).poll()
    assert len(report.added) == 3
    assert report.problems == (
        f"{site.url('/news/volcano')}: the server answered 503 Service Unavailable (3 tries); "
        "try again later",
    )
    site.put_file("/news/volcano", "volcano.html")
    before = len(site.requests)
    report = watcher(feeds, settings, fake_encoder).poll()
    assert report.added == (url_id(site.url("/news/volcano")),)
    # The feed was fetched whole again, but only the page that had failed.
    assert [r.path for r in site.requests[before:]] == ["/news.rss", "/news/volcano", "/world.atom"]


@pytest.mark.parametrize(
    ("path", "reply", "problem"),
    [
        (
            "/news.rss",
            Reply("<html><p>not a feed</p></html>", content_type="application/rss+xml"),
            "not a feed that can be read",
        ),
        ("/news.rss", Reply("gone", status=404), "answered 404 Not Found"),
        ("/news/tram-line", Reply("", content_type="application/pdf"), "application/pdf"),
        ("/news/tram-line", Reply("<html><body><nav>Home</nav></body></html>"), "no article text"),
        ("/news/tram-line", Reply("x" * 5000), "QA_MAX_UPLOAD_BYTES"),
        (
            "/news/tram-line",
            Reply("", status=301, headers={"Location": "/news/tram-line"}),
            "redirect loop",
        ),
    ],
)
def test_bad_feeds_and_pages_are_warned_of_and_the_rest_still_load(
    site: Site,
    settings: Settings,
    fake_encoder: HashingEncoder,
    path: str,
    reply: Reply,
    problem: str,
) -> None:
    feeds = publish(site)
    site.put(path, reply)
    settings = settings.model_copy(update={"max_upload_bytes": 4000})
    report = watcher(feeds, settings, fake_encoder).poll()
    assert len(report.problems) == 1 and problem in report.problems[0]
    assert report.problems[0].startswith(site.url(path))
    assert site.url(path) not in {a.source.url for a in indexed(settings).values()}
    assert report.added  # the other feed, or the other entries


def test_a_page_disallowed_by_robots_txt_is_not_fetched(
    site: Site, settings: Settings, fake_encoder: HashingEncoder
) -> None:
    feeds = publish(site)
    rss = (WEB / "news.rss").read_text().replace("{base}/news/tram-line", "{base}/private/tram")
    site.put("/news.rss", Reply(rss.replace("{base}", site.base), content_type="text/xml"))
    site.put_file("/private/tram", "tram.html")
    report = watcher(feeds, settings, fake_encoder).poll()
    assert any("robots.txt does not allow" in p for p in report.problems)
    assert site.hits("/private/tram") == []


class FailingOnce(IndexSink):
    def __init__(self, settings: Settings, encoder: HashingEncoder) -> None:
        super().__init__(settings, lambda: encoder)
        self.failed = False

    def add(self, articles: Sequence[Article]) -> BuildReport:
        if not self.failed:
            self.failed = True
            raise IndexBusyError("another qa process is writing the index")
        return super().add(articles)


def test_what_could_not_be_indexed_is_fetched_again(
    site: Site, settings: Settings, fake_encoder: HashingEncoder
) -> None:
    feeds = publish(site)
    watch = _watcher(feeds, settings, FailingOnce(settings, fake_encoder))
    with pytest.raises(IndexBusyError):
        watch.poll()
    assert len(watch.poll().added) == 4


def test_an_article_taken_out_of_the_index_comes_back(
    site: Site, settings: Settings, fake_encoder: HashingEncoder
) -> None:
    from qa.indexing import remove

    feeds = publish(site)
    watcher(feeds, settings, fake_encoder).poll()
    tram = url_id(site.url("/news/tram-line"))
    store = get_store(settings)
    try:
        remove(store, [tram], settings, lambda: fake_encoder)
    finally:
        store.close()
    before = len(site.requests)
    report = watcher(feeds, settings, fake_encoder).poll()  # the feeds did not change
    assert report.added == (tram,)
    asked = site.requests[before:]
    assert [r.path for r in asked] == ["/news.rss", "/news/tram-line", "/world.atom"]
    assert "if-none-match" not in asked[0].headers  # the feed, fetched whole
    assert "if-none-match" not in asked[1].headers  # and the page


def test_a_watched_page_is_updated_when_it_changes(
    site: Site, settings: Settings, fake_encoder: HashingEncoder
) -> None:
    url = site.put_file("/news/tram-line", "tram.html", etag='"1"')
    assert len(watcher([url], settings, fake_encoder).poll().added) == 1
    assert watcher([url], settings, fake_encoder).poll().unchanged_feeds == 1
    tram = (WEB / "tram.html").read_text().replace("{base}", site.base)
    site.put("/news/tram-line", Reply(tram.replace("eleven stops", "twelve stops"), etag='"2"'))
    assert watcher([url], settings, fake_encoder).poll().updated == (url_id(url),)


def test_a_damaged_state_file_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / STATE_NAME).write_bytes(b"not a database" * 100)
    from qa.errors import QAError

    with pytest.raises(QAError, match="delete the file"):
        SqliteWatchState.beside(tmp_path).get("https://a.example/")


def test_run_polls_again_and_again_until_stopped(
    site: Site, settings: Settings, fake_encoder: HashingEncoder
) -> None:
    watch = watcher(publish(site), settings, fake_encoder)
    reports: list[PollReport] = []

    def report(poll: PollReport) -> None:
        reports.append(poll)
        if len(reports) == 2:
            watch.stop.set()

    watch.run(1.0, report)  # returns once stopped
    assert len(reports[0].added) == 4
    assert reports[1].unchanged_feeds == 2 and reports[1].added == ()
