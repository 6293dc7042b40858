"""One answer shape: `qa ask --json`, the HTTP API and `qa articles --json` show the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qa.api import create_app
from qa.cli import main
from qa.config import Settings
from qa.encoders import get_query_encoder
from tests.serving import running

CORROBORATED = "How many Russian troops are in Belarus?"  # its first answer has also_reported_by


@pytest.fixture(scope="module")
def api(seed_index_dir: Path) -> Iterator[httpx.Client]:
    # The questions' encoder the CLI's settings choose (int8 for hybrid on AVX-512 VNNI).
    settings = Settings(index_dir=seed_index_dir)
    app = create_app(settings, encoder=lambda: get_query_encoder(settings))
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_the_cli_and_the_api_answer_with_identical_bodies(
    capsys: pytest.CaptureFixture[str], seed_index_dir: Path, api: httpx.Client
) -> None:
    cli = cli_json(
        capsys, "ask", CORROBORATED, "--k", "3", "--json", "--index-dir", str(seed_index_dir)
    )
    posted = api.post("/ask", json={"question": CORROBORATED, "k": 3})
    got = api.get("/ask", params={"q": CORROBORATED, "k": 3})
    assert posted.status_code == got.status_code == 200
    assert posted.json() == cli == got.json()
    assert isinstance(cli, dict)
    also = cli["answers"][0]["also_reported_by"]
    assert also, "the seed index no longer corroborates this answer: pick another question"
    assert set(also[0]) == {
        "article_id", "title", "outlet", "author", "published", "url", "quote", "start", "end"
    }  # fmt: skip


def test_the_cli_and_the_api_list_the_same_articles(
    capsys: pytest.CaptureFixture[str], seed_index_dir: Path, api: httpx.Client
) -> None:
    cli = cli_json(capsys, "articles", "--json", "--index-dir", str(seed_index_dir))
    listed = api.get("/articles").json()
    assert isinstance(cli, list) and len(cli) == 5
    assert sorted(cli, key=lambda a: a["article_id"]) == listed
    one = api.get(f"/articles/{listed[0]['article_id']}").json()
    assert {k: v for k, v in one.items() if k != "text"} == listed[0]
