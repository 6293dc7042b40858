"""Articles from the web end to end, with the real model: `qa index --add URL`, `qa watch`
beside a running `qa serve`, `qa serve --watch`, and POST /articles {"url"}."""

from __future__ import annotations

import ipaddress
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qa.api import create_app
from qa.config import Settings
from qa.encoders import Encoder
from qa.feeds import watching
from qa.feeds.pages import url_id
from qa.feeds.state import STATE_NAME, open_state
from tests.conftest import STORES, seed_copy_for
from tests.serving import running
from tests.site import Reply, Site, serving
from tests.test_cli import run

KEY = "test-key-feeds"
AUTH = {"Authorization": f"Bearer {KEY}"}
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
TRAM = "How much will the new tram line cost?"


@pytest.fixture
def site() -> Iterator[Site]:
    with serving() as running_site:
        for path, name in {
            "/news/grain-ship": "grain.html",
            "/news/volcano": "volcano.html",
            "/news/tram-line": "tram.html",
        }.items():
            running_site.put_file(path, name, etag=f'"{name}"')
        running_site.put_file("/news.rss", "news.rss", etag='"rss"')
        yield running_site


def test_watch_once_makes_a_feed_answerable_by_qa_ask_and_a_running_server(
    capsys: pytest.CaptureFixture[str], site: Site, seed_copy: Path, real_encoder: Encoder
) -> None:
    feed = site.url("/news.rss")
    app = create_app(Settings(index_dir=seed_copy), encoder=lambda: real_encoder)
    with running(app) as api:
        code, out, err = run(capsys, "watch", feed, "--once", "--index-dir", str(seed_copy))
        assert code == 0, err
        assert out.strip() == (
            "Polled 1 feed: 3 added, 0 updated, 0 skipped, 0 entries unchanged, 0 problems."
        )
        code, out, err = run(capsys, "ask", TRAM, "--json", "--index-dir", str(seed_copy))
        assert code == 0, err
        top = json.loads(out)["answers"][0]
        assert "410 million euros" in top["quote"]
        assert top["source"] == {
            "article_id": url_id(site.url("/news/tram-line")),
            "title": "City council approves the new tram line to the harbour",
            "outlet": "Example Wire",
            "author": "Tomas Berg",
            "published": "2026-08-03",
            "url": site.url("/news/tram-line"),
        }
        served = httpx.post(f"{api}/ask", json={"question": TRAM, "k": 1}).json()
        assert served["answers"][0]["source"] == top["source"]
        article = httpx.get(f"{api}/articles/{top['source']['article_id']}").json()
        assert article["text"][top["start"] : top["end"]] == top["quote"]
        volcano = httpx.post(
            f"{api}/ask", json={"question": "How high were the lava fountains?", "k": 1}
        ).json()["answers"][0]
        assert "50 metres" in volcano["quote"]
        # The page named no author or date: the feed's entry gave them.
        assert volcano["source"]["author"] == "Sigrun Jonsdottir"
        assert volcano["source"]["published"] == "2026-08-02"

    before = len(site.requests)
    code, out, _ = run(capsys, "watch", feed, "--once", "--index-dir", str(seed_copy))
    assert code == 0
    assert out.startswith("Polled 1 feed (1 unchanged): 0 added, 0 updated")
    assert [(r.path, r.headers.get("if-none-match")) for r in site.requests[before:]] == [
        ("/news.rss", '"rss"')
    ]
    assert (seed_copy / STATE_NAME).is_file()


def test_requests_to_one_host_are_a_second_apart_by_default(
    capsys: pytest.CaptureFixture[str], site: Site, tmp_path: Path, real_encoder: Encoder
) -> None:
    code, _, err = run(
        capsys,
        "index",
        site.url("/news/volcano"),
        site.url("/news/tram-line"),
        "--index-dir",
        str(tmp_path / "index"),
        "--quiet",
    )
    assert code == 0, err
    times = [r.at for r in site.requests]  # robots.txt, then the two pages
    assert len(times) == 3
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(times))


def test_index_add_url_adds_a_page_and_warns_of_the_bad_ones(
    capsys: pytest.CaptureFixture[str], site: Site, seed_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_FETCH_HOST_INTERVAL", "0")
    page, missing = site.url("/news/grain-ship"), site.url("/news/missing")
    code, out, err = run(capsys, "index", "--add", page, missing, "--index-dir", str(seed_copy))
    assert code == 0, err
    assert "Indexed 6 articles" in out and "1 added" in out
    assert f"warning: {missing}: the server answered 404 Not Found; check the address" in err
    code, out, err = run(capsys, "index", "--add", page, "--index-dir", str(seed_copy))
    assert code == 0
    assert f"note: skipped {page}: unchanged since it was indexed" in err
    assert "is up to date: 6 articles" in out
    code, out, err = run(capsys, "index", "--add", missing, "--index-dir", str(seed_copy))
    assert code == 1
    assert err.splitlines()[-1].startswith("error: nothing could be added from ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["watch", "--once"], "give the FEED_URL of at least one feed"),
        (["watch", "https://a.example/rss", "--every", "soon"], "is not a duration"),
        (["watch", "https://a.example/rss", "--every", "0.5"], "at least 1s apart"),
    ],
)
def test_watch_usage_mistakes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = run(capsys, *args, "--index-dir", str(tmp_path))
    assert code == 2
    assert message in err


def test_watch_once_fails_when_no_feed_can_be_read(
    capsys: pytest.CaptureFixture[str], site: Site, tmp_path: Path
) -> None:
    code, _, err = run(
        capsys, "watch", site.url("/nothing.rss"), "--once", "--index-dir", str(tmp_path)
    )
    assert code == 1
    assert f"warning: {site.url('/nothing.rss')}: the server answered 404" in err
    assert err.splitlines()[-1] == "error: no feed could be read: see the warnings above"


# -- the API ------------------------------------------------------------------------


def serve(index_dir: Path, encoder: Encoder, **settings: Any) -> Any:
    options: dict[str, Any] = {"api_key": KEY, "fetch_host_interval": 0, **settings}
    app = create_app(Settings(index_dir=index_dir, **options), encoder=lambda: encoder)
    return running(app)


@pytest.fixture
def api(seed_copy: Path, real_encoder: Encoder) -> Iterator[httpx.Client]:
    with (
        serve(seed_copy, real_encoder, fetch_allow_networks=LOOPBACK) as url,
        httpx.Client(base_url=url, timeout=60, headers=AUTH) as client,
    ):
        yield client


def test_post_a_page_url_then_again(api: httpx.Client, site: Site) -> None:
    page = site.url("/news/grain-ship")
    response = api.post("/articles", json={"url": page})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["added"] == [url_id(page)] and body["articles"] == 6
    answer = api.post("/ask", json={"question": "How much corn did the ship carry?"}).json()
    assert answer["answers"][0]["source"]["url"] == page
    again = api.post("/articles", json={"url": page}).json()
    assert (again["added"], again["updated"]) == ([], [])
    assert again["skipped"] == [
        {"url": page, "article_id": url_id(page), "reason": "unchanged since it was indexed"}
    ]


def test_post_a_feed_url_adds_its_pages_and_warns_of_the_rest(
    api: httpx.Client, site: Site
) -> None:
    site.put("/news/volcano", Reply("gone", status=410))
    body = api.post("/articles", json={"url": site.url("/news.rss")}).json()
    assert sorted(body["added"]) == sorted(
        url_id(site.url(p)) for p in ("/news/grain-ship", "/news/tram-line")
    )
    assert body["warnings"] == [
        f"{site.url('/news/volcano')}: the server answered 410 Gone; check the address"
    ]


@pytest.mark.parametrize(
    ("path", "reply", "detail"),
    [
        ("/missing", None, "answered 404 Not Found"),
        ("/error", Reply("", status=500), "answered 500 Internal Server Error"),
        ("/slow", Reply("", delay=3), "QA_FETCH_TIMEOUT"),
        ("/loop", Reply("", status=307, headers={"Location": "/loop"}), "redirect loop"),
        ("/big", Reply("<html>" + "x" * 3000), "QA_MAX_UPLOAD_BYTES"),
        ("/image", Reply(b"GIF89a", content_type="image/gif"), "image/gif, neither"),
        ("/empty", Reply("<html><body><nav>Home</nav></body></html>"), "no article text"),
        (
            "/bad.rss",
            Reply("<rss><channel>", content_type="application/rss+xml"),
            "not a feed that can be read",
        ),
    ],
)
def test_post_a_bad_url_is_a_422_naming_it(
    seed_copy: Path,
    real_encoder: Encoder,
    site: Site,
    path: str,
    reply: Reply | None,
    detail: str,
) -> None:
    if reply is not None:
        site.put(path, reply)
    with serve(
        seed_copy,
        real_encoder,
        fetch_allow_networks=LOOPBACK,
        fetch_timeout=0.5,
        fetch_retries=0,
        max_upload_bytes=2000,
    ) as url:
        response = httpx.post(f"{url}/articles", json={"url": site.url(path)}, headers=AUTH)
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith(f"{site.url(path)}: ")
        assert detail in response.json()["detail"]
        assert httpx.get(f"{url}/health").json()["articles"] == 5  # nothing stored


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"url": "file:///etc/passwd"}, "only http and https addresses are fetched"),
        ({"url": 5}, "url: Input should be a valid string"),
        ({"url": "https://a.example/", "title": "x"}, 'send only {"url": ...}'),
    ],
)
def test_post_a_url_that_cannot_be_used(api: httpx.Client, body: Any, detail: str) -> None:
    response = api.post("/articles", json=body)
    assert response.status_code == 422
    assert detail in response.json()["detail"]


def test_post_a_url_needs_the_key(api: httpx.Client, site: Site) -> None:
    response = httpx.post(f"{api.base_url}/articles", json={"url": site.url("/news.rss")})
    assert response.status_code == 401
    assert site.requests == []


def test_a_loopback_url_is_refused_unless_its_network_is_allowed(
    seed_copy: Path, real_encoder: Encoder, site: Site
) -> None:
    with serve(seed_copy, real_encoder) as url:
        response = httpx.post(
            f"{url}/articles", json={"url": site.url("/news/grain-ship")}, headers=AUTH
        )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "127.0.0.1, a loopback address" in detail
    assert "QA_FETCH_ALLOW_NETWORKS=127.0.0.0/8" in detail
    assert site.requests == []  # refused before anything was sent


def test_the_api_documents_the_url_body(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    body = schema["paths"]["/articles"]["post"]["requestBody"]["content"]["application/json"]
    assert {"$ref": "#/components/schemas/UrlIn"} in body["schema"]["oneOf"]
    assert schema["components"]["schemas"]["UrlIn"]["required"] == ["url"]
    assert "skipped" in schema["components"]["schemas"]["WriteReport"]["properties"]


@pytest.mark.parametrize("store", STORES)
def test_serve_watch_adds_a_feed_s_articles_while_serving(
    request: pytest.FixtureRequest, store: str, real_encoder: Encoder, site: Site
) -> None:
    settings = seed_copy_for(request, store).model_copy(
        update={
            "watch_feeds": [site.url("/news.rss")],
            "fetch_allow_networks": LOOPBACK,
            "fetch_host_interval": 0,
        }
    )
    app = create_app(settings, encoder=lambda: real_encoder, sidecars=(watching,))
    with running(app) as url:
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/health").json().get("articles") != 8:
            assert time.monotonic() < deadline, "the watcher added nothing"
            time.sleep(0.1)
        answer = httpx.post(f"{url}/ask", json={"question": TRAM, "k": 1}).json()["answers"][0]
    assert answer["source"]["url"] == site.url("/news/tram-line")
    assert answer["source"]["outlet"] == "Example Wire"
    state = open_state(settings)  # what the server's watcher remembered, for the next one
    try:
        seen = state.get(site.url("/news.rss"))
    finally:
        state.close()
    assert seen is not None and seen.etag == '"rss"' and len(seen.article_ids) == 3


def test_serve_watch_fetches_only_from_allowed_networks(
    seed_copy: Path, real_encoder: Encoder, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(index_dir=seed_copy, watch_feeds=[site.url("/news.rss")])
    app = create_app(settings, encoder=lambda: real_encoder, sidecars=(watching,))
    with running(app) as url:
        deadline = time.monotonic() + 30
        while not any("loopback address" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the refusal was not logged"
            time.sleep(0.1)
        assert httpx.get(f"{url}/health").json()["articles"] == 5
    assert site.requests == []
