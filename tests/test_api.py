"""The HTTP API through a real uvicorn on a loopback port, with the real model and index."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qa.api import create_app
from qa.config import Settings
from qa.encoders import Encoder
from qa.store import get_store
from tests.conftest import STORES, seed_copy_for, seed_settings_for
from tests.serving import running

KEY = "test-key-5f1e"
AUTH = {"Authorization": f"Bearer {KEY}"}
BORDER = "near the Ukraine-Belarus border"
FISH = (
    "The summit on fishing quotas took place in Reykjavik on Tuesday. Delegates from nine "
    "countries argued for hours about the cod catch in the North Atlantic."
)


def serve(
    where: Path | Settings, embedder: Encoder, **settings: Any
) -> Any:  # a context manager yielding the base URL
    """A server over the local index in a folder, or over the store ``where`` names."""
    base = {"index_dir": where} if isinstance(where, Path) else dict(where)
    app = create_app(Settings(**{**base, **settings}), encoder=lambda: embedder)
    return running(app)


@pytest.fixture(scope="module", params=STORES)
def api(request: pytest.FixtureRequest, real_encoder: Encoder) -> Iterator[httpx.Client]:
    """A read-only server over the shared seed index (in each store); no writes."""
    where = seed_settings_for(request, request.param)
    with serve(where, real_encoder) as url, httpx.Client(base_url=url) as client:
        yield client


@pytest.fixture(params=STORES)
def seed_place(request: pytest.FixtureRequest) -> Settings:
    """A private copy of the seed index in each store, which the test may change."""
    return seed_copy_for(request, request.param)


@pytest.fixture
def writable(seed_place: Settings, real_encoder: Encoder) -> Iterator[httpx.Client]:
    """A server over a private copy of the seed index, with an API key."""
    with (
        serve(seed_place, real_encoder, api_key=KEY) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


def ask(client: httpx.Client, question: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/ask", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- reading ------------------------------------------------------------------------


def test_health_reports_counts_and_model(api: httpx.Client) -> None:
    body = api.get("/health").json()
    assert body["status"] == "ok"
    assert body["articles"] == 5
    assert body["passages"] > 50
    assert body["model"] == "all-MiniLM-L6-v2"


def test_health_is_503_while_loading_and_without_an_index(
    tmp_path: Path, real_encoder: Encoder
) -> None:
    loaded = threading.Event()

    def slow_model() -> Encoder:
        loaded.wait(timeout=60)
        return real_encoder

    app = create_app(Settings(index_dir=tmp_path / "none"), encoder=slow_model)
    with running(app, wait_ready=False) as url:
        loading = httpx.get(f"{url}/health")
        assert (loading.status_code, loading.json()["status"]) == (503, "loading")
        assert httpx.post(f"{url}/ask", json={"question": "Where?"}).status_code == 503
        loaded.set()
        deadline = time.monotonic() + 60
        while (body := httpx.get(f"{url}/health").json())["status"] == "loading":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert body["status"] == "unavailable"
        assert "qa index" in body["detail"]
        response = httpx.post(f"{url}/ask", json={"question": "Where?"})
        assert response.status_code == 503
        assert "qa index" in response.json()["detail"]


def test_ask_returns_verbatim_quotes_with_sources(api: httpx.Client) -> None:
    body = ask(api, "Where was the second round of talks held?", k=5)
    assert body["abstained"] is False
    assert 1 <= len(body["answers"]) <= 5
    assert any(BORDER in a["quote"] for a in body["answers"])
    for answer in body["answers"]:
        article = api.get(f"/articles/{answer['source']['article_id']}").json()
        assert article["text"][answer["start"] : answer["end"]] == answer["quote"]
        assert answer["source"]["title"] and answer["source"]["outlet"]


def test_get_ask_matches_post_ask(api: httpx.Client) -> None:
    question = "Who led the Russian delegation?"
    got = api.get("/ask", params={"q": question, "k": 3}).json()
    assert got == ask(api, question, k=3)


def test_k_defaults_to_five(api: httpx.Client) -> None:
    assert len(ask(api, "What did Zelensky say about the talks?")["answers"]) == 5


def test_off_topic_question_abstains(api: httpx.Client) -> None:
    body = ask(api, "What is the capital of Australia?")
    assert body == {
        "question": "What is the capital of Australia?",
        "answers": [],
        "abstained": True,
    }


@pytest.mark.parametrize(
    "question",
    [
        "Where were the talks\x00 held?",
        "Where were the talks held? 🇺🇦🕊️",
        "\u200fWhere were the talks held?\u200f",
        "<script>alert(1)</script> Where were the talks held?",
        "Where were the talks held?' OR 1=1 --",
    ],
)
def test_odd_questions_are_questions_like_any_other(api: httpx.Client, question: str) -> None:
    body = ask(api, question)
    assert body["question"] == question
    assert body["answers"]


@pytest.mark.parametrize("question", ["0", "Is it?", "…"])
def test_questions_with_no_word_to_match_abstain(api: httpx.Client, question: str) -> None:
    for response in (
        api.post("/ask", json={"question": question}),
        api.get("/ask", params={"q": question}),
    ):
        assert response.status_code == 200, response.text
        assert response.json()["abstained"] is True


def test_outlet_filter_keeps_only_that_outlet(api: httpx.Client) -> None:
    outlets = {a["outlet"] for a in api.get("/articles").json()}
    outlet = sorted(o for o in outlets if o)[0]
    body = ask(api, "Where were the talks held?", k=10, outlet=outlet)
    assert body["answers"]
    assert {a["source"]["outlet"] for a in body["answers"]} == {outlet}
    got = api.get("/ask", params={"q": "Where were the talks held?", "outlet": outlet}).json()
    assert {a["source"]["outlet"] for a in got["answers"]} == {outlet}


def test_date_filter_keeps_only_that_range(api: httpx.Client) -> None:
    dates = sorted(a["published"] for a in api.get("/articles").json() if a["published"])
    day = dates[-1]
    body = ask(api, "Where were the talks held?", k=10, published_from=day, published_to=day)
    assert body["answers"]
    assert {a["source"]["published"] for a in body["answers"]} == {day}
    nothing = ask(api, "Where were the talks held?", published_to="1999-12-31")
    assert nothing["abstained"] is True


def test_articles_list_every_source_with_its_passage_count(api: httpx.Client) -> None:
    articles = api.get("/articles").json()
    assert len(articles) == 5
    for article in articles:
        assert set(article) == {
            "article_id",
            "title",
            "outlet",
            "author",
            "published",
            "url",
            "passages",
        }
        assert article["passages"] > 0


def test_docs_and_openapi_are_served(api: httpx.Client) -> None:
    assert "swagger" in api.get("/docs").text.lower()
    spec = api.get("/openapi.json").json()
    assert {"/ask", "/health", "/articles", "/articles/{article_id}"} <= set(spec["paths"])
    # Every schema the docs refer to is in them, the JSON article body included.
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert "ArticleIn" in refs and refs <= set(spec["components"]["schemas"])
    assert set(spec["components"]["schemas"]["ArticleIn"]["required"]) == {"text"}


def test_metrics_count_requests_abstentions_and_index_size(api: httpx.Client) -> None:
    ask(api, "What is the capital of Australia?")
    text = api.get("/metrics").text
    assert 'qa_requests_total{method="POST",route="/ask",status="200"}' in text
    assert "qa_request_seconds_bucket" in text
    abstentions = next(
        line for line in text.splitlines() if line.startswith("qa_abstentions_total")
    )
    assert float(abstentions.split()[-1]) >= 1
    assert "qa_index_passages" in text and "qa_index_articles 5.0" in text


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"question": ""}, 422, "empty"),
        ({"question": "   \n\t"}, 422, "empty"),
        ({"question": "w" * 2001}, 422, "2000 characters"),
        ({"question": "Where?", "k": 0}, 422, "k must be"),
        ({"question": "Where?", "k": 51}, 422, "k must be"),
        ({"question": "Where?", "k": "3"}, 422, "k:"),
        ({"question": "Where?", "k": 2.5}, 422, "k:"),
        ({"question": 42}, 422, "question:"),
        ({"question": None}, 422, "question:"),
        ({}, 422, "question: required"),
        ({"question": "Where?", "top_k": 3}, 422, "top_k: unknown field"),
        ({"question": "Where?", "published_from": "last week"}, 422, "published_from"),
        ({"question": "Where?", "published_from": 1646092800}, 422, "write it as YYYY-MM-DD"),
        (
            {"question": "Where?", "published_from": "2022-03-01", "published_to": "2022-02-01"},
            422,
            "after",
        ),
        (["Where?"], 422, "dictionary"),
    ],
)
def test_bad_questions_get_a_4xx_that_says_what_is_wrong(
    api: httpx.Client, body: Any, status: int, says: str
) -> None:
    response = api.post("/ask", json=body)
    assert response.status_code == status
    assert says in response.json()["detail"]


def test_k_may_be_a_whole_number_written_with_a_point(api: httpx.Client) -> None:
    """JSON Schema's integer includes 3.0, and some clients write numbers so."""
    assert len(ask(api, "Who led the Russian delegation?", k=3.0)["answers"]) == 3


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ('{"question": "Where', "application/json"),
        ("question=Where", "application/x-www-form-urlencoded"),
        ("Where were the talks held?", "text/plain"),
        (b"\xff\xfe\x00", "application/json"),
        ("", "application/json"),
    ],
)
def test_malformed_or_non_json_bodies_get_a_4xx(
    api: httpx.Client, content: str | bytes, content_type: str
) -> None:
    response = api.post("/ask", content=content, headers={"Content-Type": content_type})
    assert 400 <= response.status_code < 500
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"q": ""}, "empty"),
        ({}, "q: required"),
        ({"q": "Where?", "k": "many"}, "k:"),
        ({"q": "Where?", "k": "99"}, "k must be"),
        ({"q": "Where?", "published_to": "2022-13-01"}, "published_to"),
        ({"q": "Where?", "published_from": "0.0"}, "published_from: '0.0' is not a date"),
    ],
)
def test_bad_get_ask_gets_a_4xx(api: httpx.Client, params: dict[str, str], says: str) -> None:
    response = api.get("/ask", params=params)
    assert response.status_code == 422
    assert says in response.json()["detail"]


def test_unknown_article_and_endpoint_are_404(api: httpx.Client) -> None:
    response = api.get("/articles/no-such-article")
    assert response.status_code == 404
    assert "no-such-article" in response.json()["detail"]
    assert api.get("/nowhere").status_code == 404


def test_a_wrong_method_is_405_naming_the_right_ones(api: httpx.Client) -> None:
    for path, allowed in (
        ("/ask", "GET, POST"),
        ("/articles", "GET, POST"),
        ("/articles/000_771180aa20e17e84", "DELETE, GET"),
    ):
        response = api.put(path)
        assert response.status_code == 405
        assert response.headers["allow"] == allowed
        assert f"use {allowed}" in response.json()["detail"]


# -- who may write ------------------------------------------------------------------


def test_writes_are_refused_when_no_key_is_configured(api: httpx.Client) -> None:
    for response in (
        api.post("/articles", json={"title": "x", "text": FISH}, headers=AUTH),
        api.delete("/articles/anything", headers=AUTH),
    ):
        assert response.status_code == 403
        assert "QA_API_KEY" in response.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"},
    ],
)
def test_a_missing_or_wrong_key_is_401(writable: httpx.Client, headers: dict[str, str]) -> None:
    response = writable.post("/articles", json={"title": "x", "text": FISH}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert writable.delete("/articles/anything", headers=headers).status_code == 401
    assert len(writable.get("/articles").json()) == 5


# -- writing ------------------------------------------------------------------------


def test_add_then_ask_finds_the_new_article(writable: httpx.Client) -> None:
    response = writable.post(
        "/articles",
        json={"id": "fish", "title": "Quota talks", "outlet": "Fish Weekly", "text": FISH},
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    assert response.json()["added"] == ["fish"]
    top = ask(writable, "Where was the summit on fishing quotas?")["answers"][0]
    assert "Reykjavik" in top["quote"]
    assert top["source"]["outlet"] == "Fish Weekly"
    assert len(writable.get("/articles").json()) == 6


def test_delete_then_ask_it_is_gone_also_after_a_restart(
    writable: httpx.Client, seed_place: Settings, real_encoder: Encoder
) -> None:
    writable.post("/articles", json={"id": "fish", "text": FISH}, headers=AUTH)
    response = writable.delete("/articles/fish", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["removed"] == ["fish"]
    assert writable.get("/articles/fish").status_code == 404
    assert writable.delete("/articles/fish", headers=AUTH).status_code == 404
    question = "Where was the summit on fishing quotas?"
    assert all("Reykjavik" not in a["quote"] for a in ask(writable, question)["answers"])
    with serve(seed_place, real_encoder) as url, httpx.Client(base_url=url) as again:
        assert again.get("/articles/fish").status_code == 404
        assert len(again.get("/articles").json()) == 5


def test_uploads_of_each_format_are_indexed(writable: httpx.Client) -> None:
    files = {
        "quota.md": "---\ntitle: Quota talks\noutlet: Fish Weekly\npublished: 2024-05-02\n---\n"
        + FISH,
        "page.html": "<html><head><title>Harbour news</title></head><body><article><p>"
        "The harbour master said the new pier in Tromsø will open in the spring of next year "
        "after long delays.</p></article></body></html>",
        "more.jsonl": json.dumps(
            {
                "id": "grain",
                "title": "Grain",
                "text": "Grain exports from Odesa rose by a third "
                "in the first month after the corridor reopened.",
            }
        )
        + "\nnot json\n",
    }
    for name, content in files.items():
        response = writable.post(
            "/articles", files={"file": (name, content.encode())}, headers=AUTH
        )
        assert response.status_code == 201, response.text
    report = response.json()
    assert report["added"] == ["grain"] and "more.jsonl:2" in report["warnings"][0]
    ids = {a["article_id"] for a in writable.get("/articles").json()}
    assert {"quota", "page", "grain"} <= ids
    assert writable.get("/articles/quota").json()["published"] == "2024-05-02"
    top = ask(writable, "When does the new pier open?")["answers"][0]
    assert "Tromsø" in top["quote"]


def test_re_adding_an_article_replaces_it(writable: httpx.Client) -> None:
    writable.post("/articles", json={"id": "fish", "text": FISH}, headers=AUTH)
    changed = FISH.replace("Reykjavik", "Bergen")
    response = writable.post("/articles", json={"id": "fish", "text": changed}, headers=AUTH)
    assert response.json()["updated"] == ["fish"]
    assert writable.get("/articles/fish").json()["text"] == changed
    quotes = [a["quote"] for a in ask(writable, "Where was the fishing summit?", k=10)["answers"]]
    assert any("Bergen" in q for q in quotes) and not any("Reykjavik" in q for q in quotes)


@pytest.mark.parametrize(
    ("kwargs", "status", "says"),
    [
        ({"json": {"title": "Empty", "text": ""}}, 422, "no text"),
        ({"json": {"title": "Blank", "text": "  \n "}}, 422, "no text"),
        ({"json": {"title": "No text"}}, 422, "text: required"),
        ({"json": {"text": FISH, "published": "soon"}}, 422, "not a date"),
        ({"json": {"text": FISH, "id": "../etc"}}, 422, "id"),
        ({"json": {"text": "Subscribe now!\n\nSkip to main content"}}, 422, "no article text"),
        ({"files": {"file": ("paper.pdf", b"%PDF-1.4")}}, 415, ".pdf"),
        ({"files": {"file": ("noext", b"text")}}, 415, "without a suffix"),
        (
            {"files": {"file": ("latin.txt", "Café au lait à la gare.".encode("latin-1"))}},
            422,
            "UTF-8",
        ),
        ({"files": {"file": ("empty.txt", b"")}}, 422, "empty"),
        ({"files": {"other": ("a.txt", FISH.encode())}}, 422, "'file'"),
        ({"content": FISH, "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
        ({"content": "{not json", "headers": {"Content-Type": "application/json"}}, 422, "JSON"),
    ],
)
def test_bad_articles_get_a_4xx_and_change_nothing(
    writable: httpx.Client, kwargs: dict[str, Any], status: int, says: str
) -> None:
    kwargs = dict(kwargs)  # the same parameters serve each store
    headers = {**AUTH, **kwargs.pop("headers", {})}
    response = writable.post("/articles", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]
    assert len(writable.get("/articles").json()) == 5


def test_uploads_over_the_limit_are_413(seed_place: Settings, real_encoder: Encoder) -> None:
    with (
        serve(seed_place, real_encoder, api_key=KEY, max_upload_bytes=1000) as url,
        httpx.Client(base_url=url) as client,
    ):
        big = ("All work and no play makes Jack a dull boy. " * 40).encode()
        response = client.post("/articles", files={"file": ("big.txt", big)}, headers=AUTH)
        assert response.status_code == 413
        assert "MB" in response.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
            yield b'{"text": "'
            yield b"a" * 5000
            yield b'"}'

        response = client.post(
            "/articles", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert len(client.get("/articles").json()) == 5


# -- concurrency --------------------------------------------------------------------


def test_concurrent_questions_share_model_calls(
    seed_index_dir: Path, real_encoder: Encoder
) -> None:
    app = create_app(Settings(index_dir=seed_index_dir), encoder=lambda: real_encoder)
    with running(app) as url:
        service = app.state.service
        before = service.batches

        async def many() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                return await asyncio.gather(
                    *(
                        client.get("/ask", params={"q": f"Who met in Belarus? {n}"})
                        for n in range(16)
                    )
                )

        responses = asyncio.run(many())
        assert all(r.status_code == 200 for r in responses)
        assert [r.json()["question"] for r in responses] == [
            f"Who met in Belarus? {n}" for n in range(16)
        ]
        assert service.batches - before < 16


def test_mixed_requests_while_an_article_is_added_all_succeed(
    seed_place: Settings, real_encoder: Encoder
) -> None:
    async def storm(url: str) -> tuple[list[httpx.Response], httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            questions = ["Where were the talks held?", "Who led Ukraine's delegation?"]
            requests = []
            for n in range(200):
                question = questions[n % 2]
                kind = n % 5
                if kind == 0:
                    requests.append(client.get("/ask", params={"q": question, "k": 1 + n % 7}))
                elif kind == 1:
                    requests.append(client.get("/articles"))
                elif kind == 2:
                    requests.append(client.get("/health"))
                else:
                    requests.append(client.post("/ask", json={"question": question, "k": 3}))
            add = client.post("/articles", json={"id": "fish", "text": FISH}, headers=AUTH)
            *responses, added = await asyncio.gather(*requests, add)
            return responses, added

    with serve(seed_place, real_encoder, api_key=KEY) as url:
        responses, added = asyncio.run(storm(url))
        assert added.status_code == 201
        assert [r.status_code for r in responses] == [200] * 200
        counts = {len(r.json()) for r in responses if r.request.url.path == "/articles"}
        assert counts <= {5, 6}  # each list is of one whole version, before or after
        assert httpx.get(f"{url}/articles/fish").status_code == 200


# -- operations ---------------------------------------------------------------------


def test_one_log_line_per_request_without_secrets(
    writable: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qa.api")
    writable.get("/ask", params={"q": "Where were the talks held?", "k": 2})
    writable.post("/articles", json={"id": "fish", "text": FISH}, headers=AUTH)
    writable.post(
        "/articles", json={"id": "fish", "text": FISH}, headers={"Authorization": "Bearer nope"}
    )
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "qa.api"]
    assert [(line["path"], line["status"]) for line in lines] == [
        ("/ask", 200),
        ("/articles", 201),
        ("/articles", 401),
    ]
    assert lines[0]["k"] == 2 and lines[0]["ms"] > 0 and lines[0]["id"]
    assert all(KEY not in r.getMessage() and "nope" not in r.getMessage() for r in caplog.records)
    assert "talks" not in caplog.text  # questions travel in the query string, which is not logged


def test_request_id_is_echoed(api: httpx.Client) -> None:
    response = api.get("/health", headers={"X-Request-ID": "abc123"})
    assert response.headers["X-Request-ID"] == "abc123"


def test_cors_origins_are_configurable(seed_index_dir: Path, real_encoder: Encoder) -> None:
    origin = "https://newsroom.example"
    with serve(seed_index_dir, real_encoder, cors_origins=[origin]) as url:
        preflight = httpx.options(
            f"{url}/ask",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == origin
        other = httpx.get(f"{url}/health", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers


def test_an_index_rebuilt_by_another_process_is_picked_up(
    seed_place: Settings, real_encoder: Encoder, tmp_path: Path
) -> None:
    from qa.corpus.load import load
    from qa.indexing import build

    story = tmp_path / "fish.txt"
    story.write_text(FISH, encoding="utf-8")
    with serve(seed_place, real_encoder) as url, httpx.Client(base_url=url) as client:
        # What `qa index --add fish.txt` does from another terminal.
        store = get_store(seed_place)
        try:
            build(store, load([story]).articles, seed_place, lambda: real_encoder, add=True)
        finally:
            store.close()
        top = ask(client, "Where was the summit on fishing quotas?")["answers"][0]
        assert "Reykjavik" in top["quote"]
        assert client.get("/health").json()["articles"] == 6
