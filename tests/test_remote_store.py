"""The Milvus + PostgreSQL store where it differs from the local one: outages, a write
cut off halfway, several servers on one store, and moving an index between stores.

The outage tests run servers of their own, so stopping them leaves the session's alone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qa.api import create_app
from qa.cli import main as cli_main
from qa.config import Settings, get_settings
from qa.encoders import Encoder
from qa.errors import StoreUnavailableError
from qa.store import get_store
from qa.store.remote import RemoteStore
from qa.store.remote.milvus import Milvus
from tests.conftest import Remote
from tests.servers import running as servers_running
from tests.serving import running, serving_process

KEY = "test-key-remote"
AUTH = {"Authorization": f"Bearer {KEY}"}
FISH = (
    "The summit on fishing quotas took place in Reykjavik on Tuesday. Delegates from nine "
    "countries argued for hours about the cod catch in the North Atlantic."
)
FISH_QUESTION = "Where was the summit on fishing quotas?"


@pytest.fixture
def own_remote(tmp_path: Path) -> Iterator[Remote]:
    """Milvus Lite and PostgreSQL for this test alone, which it may stop and start."""
    with servers_running(tmp_path / "servers") as (milvus, postgres):
        yield Remote(milvus, postgres)


def _until(check: Any, seconds: float = 60.0) -> Any:
    """Poll ``check`` until it returns something true; that value."""
    deadline = time.monotonic() + seconds
    while not (value := check()):
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.2)
    return value


def _status(url: str, path: str = "/health", **kwargs: Any) -> httpx.Response:
    method = "POST" if "json" in kwargs else "GET"
    return httpx.request(method, f"{url}{path}", timeout=60, **kwargs)


@pytest.mark.parametrize("which", ["milvus", "postgres"])
def test_a_store_down_under_a_running_server_is_503_with_detail_then_recovers(
    own_remote: Remote,
    seed_settings: Settings,
    seed_index_dir: Path,
    real_encoder: Encoder,
    which: str,
) -> None:
    settings = own_remote.seeded(seed_settings, seed_index_dir)
    server = own_remote.milvus if which == "milvus" else own_remote.postgres
    named = "Milvus" if which == "milvus" else "PostgreSQL"
    question = {"json": {"question": "Where were the talks held?"}}
    app = create_app(settings, encoder=lambda: real_encoder)
    with running(app) as url:
        assert _status(url, "/ask", **question).status_code == 200
        server.stop()
        for path, kwargs in (("/health", {}), ("/ask", question)):
            started = time.monotonic()
            response = _status(url, path, **kwargs)
            assert response.status_code == 503, response.text
            assert named in response.json()["detail"]
            assert time.monotonic() - started < 30  # an answer, never a hang
        assert response.headers["Retry-After"]
        server.start()
        _until(lambda: _status(url).status_code == 200)
        body = _status(url, "/ask", **question).json()
        assert body["answers"] and body["answers"][0]["quote"]


def test_a_server_started_while_the_store_is_down_serves_once_it_is_back(
    own_remote: Remote, seed_settings: Settings, seed_index_dir: Path, real_encoder: Encoder
) -> None:
    settings = own_remote.seeded(seed_settings, seed_index_dir)
    own_remote.postgres.stop()
    app = create_app(settings, encoder=lambda: real_encoder)
    with running(app, wait_ready=False) as url:
        body = _until(lambda: (r := _status(url)).json()["status"] != "loading" and r.json())
        assert body["status"] == "unavailable" and "PostgreSQL" in body["detail"]
        own_remote.postgres.start()
        _until(lambda: _status(url).status_code == 200)
        assert _status(url, "/ask", json={"question": "Where were the talks held?"}).json()[
            "answers"
        ]


def test_an_add_cut_off_by_milvus_leaves_nothing_half_and_a_retry_repairs_it(
    own_remote: Remote,
    seed_settings: Settings,
    seed_index_dir: Path,
    real_encoder: Encoder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = own_remote.seeded(seed_settings, seed_index_dir, api_key=KEY)
    real_insert = Milvus.insert

    def insert_after_milvus_stops(self: Milvus, *args: Any, **kwargs: Any) -> None:
        own_remote.milvus.stop()  # the rows are in PostgreSQL, pending; the vectors fail
        real_insert(self, *args, **kwargs)

    app = create_app(settings, encoder=lambda: real_encoder)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        monkeypatch.setattr(Milvus, "insert", insert_after_milvus_stops)
        response = client.post("/articles", json={"id": "fish", "text": FISH}, headers=AUTH)
        assert response.status_code == 503 and "Milvus" in response.json()["detail"]
        monkeypatch.setattr(Milvus, "insert", real_insert)
        store = get_store(settings)
        assert isinstance(store, RemoteStore)
        try:
            assert store.postgres.leftovers()  # the half-added article, never shown
            assert "fish" not in store.open().documents.articles
            own_remote.milvus.start()
            _until(lambda: client.get("/health").status_code == 200)
            assert client.get("/articles/fish").status_code == 404
            response = client.post("/articles", json={"id": "fish", "text": FISH}, headers=AUTH)
            assert response.status_code == 201, response.text
            assert store.postgres.leftovers() == []
            snapshot = store.open()
            passages = snapshot.documents.passages_of("fish")
            assert passages
            vectors = snapshot.passage_vectors.vectors([p.id for p in passages])
            assert vectors.shape == (len(passages), snapshot.manifest.dimension)
            rows = store.milvus.client.query(
                store.milvus.passages,
                filter="id >= 0",
                output_fields=["id"],
                consistency_level="Strong",
            )
            assert sorted(r["id"] for r in rows) == sorted(snapshot.documents.passage_ids())
        finally:
            store.close()
        top = client.post("/ask", json={"question": FISH_QUESTION}).json()["answers"][0]
        assert "Reykjavik" in top["quote"]


def test_two_servers_share_one_store_and_see_each_others_writes(
    remote: Remote,
    seed_settings: Settings,
    seed_index_dir: Path,
    real_encoder: Encoder,
    tmp_path: Path,
) -> None:
    settings = remote.seeded(seed_settings, seed_index_dir, api_key=KEY)
    assert settings.database_url is not None
    env = {
        "QA_STORE": "milvus",
        "QA_MILVUS_URI": settings.milvus_uri,
        "QA_MILVUS_COLLECTION_PREFIX": settings.milvus_collection_prefix,
        "QA_DATABASE_URL": settings.database_url.get_secret_value(),
        "QA_API_KEY": KEY,
        "OMP_NUM_THREADS": "1",
    }
    app = create_app(settings, encoder=lambda: real_encoder)
    with (
        running(app) as first,
        serving_process(tmp_path / "unused-index", tmp_path / "second.log", **env) as second,
    ):
        for url in (first, second):
            assert _status(url).json()["store"] == "milvus"
            assert _status(url, "/ask", json={"question": FISH_QUESTION}).status_code == 200
        added = _status(first, "/articles", json={"id": "fish", "text": FISH}, headers=AUTH)
        assert added.status_code == 201, added.text

        def answered_by(url: str) -> bool:
            body = _status(url, "/ask", json={"question": FISH_QUESTION}).json()
            return any("Reykjavik" in a["quote"] for a in body["answers"])

        _until(lambda: answered_by(second), 10)
        removed = httpx.delete(f"{second}/articles/fish", headers=AUTH, timeout=60)
        assert removed.status_code == 200, removed.text
        _until(lambda: not answered_by(first), 10)  # a question picks up the new version
        assert _status(first, "/articles/fish").status_code == 404
        assert len(_status(first, "/articles").json()) == 5


def test_export_then_import_moves_an_index_without_embedding_again(
    remote: Remote,
    seed_settings: Settings,
    seed_index_dir: Path,
    real_encoder: Encoder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from qa.retrieve import Retriever
    from qa.store.local import LocalStore

    target = remote.settings(seed_settings)
    assert target.database_url is not None
    exported = tmp_path / "seeds.jsonl"
    assert cli_main(["export", str(exported), "--index-dir", str(seed_index_dir)]) == 0
    for name, value in {
        "QA_STORE": "milvus",
        "QA_MILVUS_URI": target.milvus_uri,
        "QA_MILVUS_COLLECTION_PREFIX": target.milvus_collection_prefix,
        "QA_DATABASE_URL": target.database_url.get_secret_value(),
        "QA_ENCODER": "unknown-so-nothing-can-embed",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    assert cli_main(["import", str(exported)]) == 0
    passages = LocalStore(seed_index_dir).open().manifest.passages
    said = capsys.readouterr().out
    assert f"5 articles ({passages} passages, model all-MiniLM-L6-v2) into Milvus at" in said
    moved = tmp_path / "moved.jsonl"  # and back again, from Milvus + PostgreSQL
    assert cli_main(["export", str(moved)]) == 0
    assert f"from Milvus at {target.milvus_uri}" in capsys.readouterr().out
    monkeypatch.setenv("QA_STORE", "local")
    get_settings.cache_clear()
    back = tmp_path / "back"
    assert cli_main(["import", str(moved), "--index-dir", str(back)]) == 0
    original = LocalStore(seed_index_dir).open()
    returned = LocalStore(back).open()
    assert dict(returned.documents.articles) == dict(original.documents.articles)
    ids = sorted(original.documents.passage_ids())
    assert sorted(returned.documents.passage_ids()) == ids
    assert (returned.passage_vectors.vectors(ids) == original.passage_vectors.vectors(ids)).all()
    question = "Where were the talks held?"
    asked = [
        Retriever(s, real_encoder, seed_settings).ask(question).answers[0]
        for s in (original, returned)
    ]
    assert asked[0] == asked[1]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "empty"),
        ('{"format": "other"}\n', "line 1"),
        ("not json\n", "line 1"),
    ],
)
def test_import_of_a_bad_file_says_what_is_wrong_and_changes_nothing(
    tmp_path: Path, seed_copy: Path, content: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    before = sorted(p.name for p in seed_copy.iterdir())
    assert cli_main(["import", str(path), "--index-dir", str(seed_copy)]) == 1
    assert says in capsys.readouterr().err
    assert sorted(p.name for p in seed_copy.iterdir()) == before


def test_milvus_store_needs_a_database_url() -> None:
    with pytest.raises(Exception, match="QA_DATABASE_URL"):
        get_store(Settings(store="milvus"))


def test_an_unreachable_milvus_is_an_error_that_names_it(remote: Remote) -> None:
    milvus = Milvus("http://127.0.0.1:9", "", "qa_none", 2.0)
    try:
        with pytest.raises(StoreUnavailableError, match=re.escape("Milvus at http://127.0.0.1:9")):
            milvus.prepare(4, fresh=True)
    finally:
        milvus.close()


def test_votes_live_in_the_stores_postgresql_and_a_second_vote_replaces_the_first(
    remote: Remote, seed_settings: Settings
) -> None:
    from qa.feedback import open_votes
    from qa.store.remote.feedback import PostgresFeedback

    settings = remote.settings(seed_settings)
    first, second = open_votes(settings), open_votes(settings)  # two servers, say
    assert isinstance(first, PostgresFeedback) and isinstance(second, PostgresFeedback)
    try:
        answer = ("004_24f5a1e05d2360b3", 10, 40, "near the Ukraine-Belarus border")
        first.web_vote("page1", 1, "Where?", answer, 1)
        second.web_vote("page1", 1, "Where?", answer, -1)
        [vote] = first.votes()
        assert (vote.question_id, vote.vote, vote.quote, vote.channel) == (
            "web-page1",
            -1,
            answer[3],
            "web",
        )
        asked = first.add_question(7, 8, "Who met?")
        assert second.question(asked) is not None
        assert not second.vote(asked, 1, 8, 7, 1)  # no answer was shown under 1
    finally:
        first.close()
        second.close()
