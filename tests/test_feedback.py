"""Votes in SQLite: POST /feedback, older files migrated, and `qa feedback` exports."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qa.api import create_app
from qa.cli import main
from qa.config import Settings
from qa.encoders import Encoder
from qa.evaluation.sets import read
from qa.feedback import FeedbackStore
from tests.serving import running

TROOPS = "How many Russian troops are in Belarus?"


@pytest.fixture(scope="module")
def served(
    seed_index_dir: Path, real_encoder: Encoder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, Path]]:
    db = tmp_path_factory.mktemp("votes") / "votes.sqlite3"
    settings = Settings(index_dir=seed_index_dir, telegram_db=db)
    with (
        running(create_app(settings, encoder=lambda: real_encoder)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client, db


def a_vote(client: httpx.Client, **changes: Any) -> dict[str, Any]:
    answer = client.get("/ask", params={"q": TROOPS, "k": 1}).json()["answers"][0]
    body = {
        "question_id": "page0001",
        "rank": 1,
        "question": TROOPS,
        "article_id": answer["source"]["article_id"],
        "start": answer["start"],
        "end": answer["end"],
        "vote": 1,
    }
    return {**body, **changes}


def test_a_vote_is_stored_with_its_quote_and_channel(served: tuple[httpx.Client, Path]) -> None:
    client, db = served
    body = a_vote(client, question_id="stored01")
    response = client.post("/feedback", json=body)
    assert response.status_code == 201, response.text
    text = client.get(f"/articles/{body['article_id']}").json()["text"]
    assert response.json()["quote"] == text[body["start"] : body["end"]]
    [vote] = [v for v in FeedbackStore(db).votes() if v.question_id == "web-stored01"]
    assert (vote.channel, vote.vote, vote.user_id, vote.chat_id) == ("web", 1, 0, 0)
    assert vote.quote == response.json()["quote"]


@pytest.mark.parametrize(
    ("changes", "status", "says"),
    [
        ({"article_id": "nope"}, 404, "no article with the id 'nope'"),
        ({"start": 5, "end": 5}, 422, "are not a quote of"),
        ({"end": 10**7}, 422, "send an answer's own offsets"),
        ({"vote": 0}, 422, "vote"),
        ({"question_id": "x"}, 422, "question_id"),
        ({"question": " "}, 422, "the question is empty"),
        ({"shown": 3}, 422, "shown"),
    ],
)
def test_bad_votes_get_a_4xx_and_store_nothing(
    served: tuple[httpx.Client, Path], changes: dict[str, Any], status: int, says: str
) -> None:
    client, db = served
    before = FeedbackStore(db).votes()
    response = client.post(
        "/feedback", json=a_vote(client, **{"question_id": "bad00001", **changes})
    )
    assert response.status_code == status
    assert says in response.json()["detail"]
    assert FeedbackStore(db).votes() == before


def test_a_file_of_an_older_qa_keeps_its_votes(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            """CREATE TABLE questions (id TEXT PRIMARY KEY, chat_id INTEGER NOT NULL,
                   user_id INTEGER, question TEXT NOT NULL, asked_at TEXT NOT NULL);
               CREATE TABLE shown (question_id TEXT NOT NULL, rank INTEGER NOT NULL,
                   article_id TEXT NOT NULL, quote_start INTEGER NOT NULL,
                   quote_end INTEGER NOT NULL, quote TEXT NOT NULL,
                   PRIMARY KEY (question_id, rank));
               CREATE TABLE feedback (question_id TEXT NOT NULL, rank INTEGER NOT NULL,
                   user_id INTEGER NOT NULL, chat_id INTEGER NOT NULL, question TEXT NOT NULL,
                   article_id TEXT NOT NULL, quote_start INTEGER NOT NULL,
                   quote_end INTEGER NOT NULL, vote INTEGER NOT NULL, voted_at TEXT NOT NULL,
                   PRIMARY KEY (question_id, rank, user_id));
               INSERT INTO questions VALUES ('q1', 5, 6, 'Who?', '2026-01-01T00:00:00+00:00');
               INSERT INTO shown VALUES ('q1', 1, 'a1', 3, 9, 'Walrus');
               INSERT INTO feedback VALUES ('q1', 1, 6, 5, 'Who?', 'a1', 3, 9, 1,
                   '2026-01-01T00:00:01+00:00');"""
        )
    db.close()
    store = FeedbackStore(path)
    [vote] = store.votes()
    assert (vote.question, vote.channel, vote.quote, vote.start, vote.end) == (
        "Who?",
        "telegram",
        "Walrus",
        3,
        9,
    )
    store.web_vote("page0002", 1, "Who?", ("a1", 3, 9, "Walrus"), -1)
    assert [v.channel for v in FeedbackStore(path).votes()] == ["telegram", "web"]


def test_qa_feedback_exports_votes_and_a_test_set_qa_eval_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "votes.sqlite3"
    monkeypatch.setenv("QA_TELEGRAM_DB", str(path))
    assert main(["feedback"]) == 0
    assert "No votes yet" in capsys.readouterr().out
    assert not path.exists()  # looking creates nothing
    store = FeedbackStore(path)
    store.web_vote("page0003", 1, TROOPS, ("a1", 0, 12, "30,000 troops"), 1)
    store.web_vote("page0003", 2, TROOPS, ("a2", 4, 20, "thousands of troops"), 1)
    store.web_vote("page0004", 1, "Who won?", ("a3", 0, 5, "Nobody"), -1)
    assert main(["feedback", "--json"]) == 0
    votes = json.loads(capsys.readouterr().out)
    assert [(v["channel"], v["vote"], v["quote"]) for v in votes] == [
        ("web", 1, "30,000 troops"),
        ("web", 1, "thousands of troops"),
        ("web", -1, "Nobody"),
    ]
    assert main(["feedback", "--testset"]) == 0
    testset = tmp_path / "from-votes.jsonl"
    testset.write_text(capsys.readouterr().out, encoding="utf-8")
    [question] = read(testset).questions
    assert question.text == TROOPS
    assert question.answers == ("30,000 troops", "thousands of troops")
    assert question.article_ids == ("a1", "a2")
    assert main(["feedback"]) == 0
    assert "👎 web" in capsys.readouterr().out
