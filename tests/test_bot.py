"""End to end: the real python-telegram-bot Application, the real model and the seed
index, against a stand-in Bot API server (tests/fake_telegram.py) on a loopback port.

One bot runs for the whole module, on its own event loop in a thread, as `qa serve`
runs it; each test talks to it from its own chat ids. Tests that need another setup
(an allowlist, a bad token, logs at DEBUG) start their own bot and stand-in.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bots import render
from bots.limits import RateLimiter, Verdict
from bots.logs import REDACTED, TokenFilter
from bots.telegram_bot import run_alongside
from qa.api import create_app
from qa.cli import main as cli_main
from qa.config import Settings
from qa.encoders import Encoder
from qa.errors import QAError
from qa.feedback import FeedbackStore, open_votes
from qa.retrieve import Retriever
from qa.schemas import answer_out
from qa.service import Service
from qa.types import Answer, Source
from tests.conftest import STORES, seed_settings_for
from tests.fake_telegram import BOT_USER, Call, FakeTelegram, html_problems, plain_text
from tests.serving import running

BORDER = "Where did Russian and Ukrainian delegations meet for the second round?"
TROOPS = "How many Russian troops are in Belarus?"
OFF_TOPIC = "What is the capital of Australia?"
RATE_LIMIT = 5


class BotThread:
    """The bot under test with its own Service, on an event loop in a thread."""

    def __init__(self, settings: Settings, embedder: Encoder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self._thread.start()
        assert self.ready.wait(60), "the bot did not start within 60 s"
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the bot did not stop within 30 s"

    async def _run(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        service = Service(self.settings, encoder=lambda: self.embedder)
        try:
            await service.start()
            async with run_alongside(service, self.settings):
                self.ready.set()
                await self._stop.wait()
        except BaseException as exc:
            self.error = exc
        finally:
            await service.stop()
            self.ready.set()


@contextmanager
def running_bot(settings: Settings, embedder: Encoder) -> Iterator[BotThread]:
    bot = BotThread(settings, embedder)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()


def bot_settings(base: Settings, fake: FakeTelegram, db: Path, **changes: Any) -> Settings:
    return base.model_copy(
        update={
            "telegram_bot_token": SecretStr(fake.token),
            "telegram_base_url": fake.base_url,
            "telegram_db": db,
            "telegram_rate_limit": RATE_LIMIT,
            **changes,
        }
    )


def assert_all_valid(fake: FakeTelegram) -> None:
    """Every HTML text the bot sent is one Telegram accepts, and no call was refused."""
    for call in fake.calls:
        for text in call.html():
            assert html_problems(text) == [], text
        assert call.status != 400, (call.method, call.params)


@pytest.fixture(scope="module", params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """The module's bot answers from the seed index in each store in turn."""
    return str(request.param)


@pytest.fixture(scope="module")
def telegram(store_kind: str) -> Iterator[FakeTelegram]:
    with FakeTelegram().running() as fake:  # one per store: the chats start empty
        yield fake


@pytest.fixture(scope="module")
def bot(
    request: pytest.FixtureRequest,
    store_kind: str,
    telegram: FakeTelegram,
    real_encoder: Encoder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BotThread]:
    db = tmp_path_factory.mktemp("bot") / "telegram.sqlite3"
    seeds = seed_settings_for(request, store_kind)
    with running_bot(bot_settings(seeds, telegram, db), real_encoder) as running:
        yield running


@pytest.fixture(autouse=True)
def _every_message_is_valid(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "telegram" in request.fixturenames:
        assert_all_valid(request.getfixturevalue("telegram"))


def replies(fake: FakeTelegram, chat_id: int, count: int = 1) -> list[Call]:
    return fake.wait_for(
        lambda c: (
            c.method == "sendMessage" and c.params.get("chat_id") == chat_id and c.status == 200
        ),
        count,
    )


# -- commands ------------------------------------------------------------------------------


def test_start_says_what_the_bot_knows(bot: BotThread, telegram: FakeTelegram) -> None:
    telegram.send(1001, "/start")
    [reply] = replies(telegram, 1001)
    assert reply.params["parse_mode"] == "HTML"
    text = plain_text(reply.params["text"])
    assert "5 news articles from Atlantic Council (UkraineAlert), Axios, Foreign Policy" in text
    assert f"• {TROOPS}" in text and f"• {BORDER}" in text
    assert "/sources" in text and f"@{BOT_USER['username']}" in text


def test_sources_lists_titles_outlets_dates_and_links(
    bot: BotThread, telegram: FakeTelegram
) -> None:
    telegram.send(1002, "/sources")
    [reply] = replies(telegram, 1002)
    html = reply.params["text"]
    text = plain_text(html)
    assert text.startswith("I know 5 articles:")
    assert (
        "• Ukrainian and Russian officials meet for second round of peace talks, Axios, 2022-03-03"
        in text
    )
    assert (
        '<a href="https://www.themoscowtimes.com/2022/02/25/putin-ready-to-send-delegates' in html
    )
    assert text.count("•") == 5


def test_commands_menu_is_set(bot: BotThread, telegram: FakeTelegram) -> None:
    [call] = telegram.wait_for(lambda c: c.method == "setMyCommands")
    assert [c["command"] for c in call.params["commands"]] == ["ask", "sources", "help"]


# -- questions -----------------------------------------------------------------------------


def test_question_gets_top_quotes_with_sources(bot: BotThread, telegram: FakeTelegram) -> None:
    telegram.send(1003, BORDER)
    [reply] = replies(telegram, 1003)
    methods = [c.method for c in telegram.calls if c.params.get("chat_id") == 1003]
    assert methods == ["sendChatAction", "sendMessage"]
    typing = next(
        c for c in telegram.calls if c.method == "sendChatAction" and c.params["chat_id"] == 1003
    )
    assert typing.params["action"] == "typing"
    html = reply.params["text"]
    assert html.count("<blockquote>") == 3
    assert "<b>1.</b>" in html and "<b>3.</b>" in html and "<b>4.</b>" not in html
    assert "near the Ukraine-Belarus border" in html
    border = next(block for block in html.split("\n\n") if "Ukraine-Belarus border" in block)
    assert border.startswith("<blockquote>Russian and Ukrainian delegations convened near")
    assert "</blockquote>\n<b>" in border
    assert (
        "Ukrainian and Russian officials meet for second round of peace talks, Axios, 2022-03-03"
        in border
    )
    assert "reply_parameters" not in reply.params  # a private chat: not attached
    assert [b["text"] for b in reply.buttons()] == [
        "👍 1",
        "👍 2",
        "👍 3",
        "👎 1",
        "👎 2",
        "👎 3",
        "More ▸",
    ]


def test_several_outlets_reporting_the_same_are_noted(
    bot: BotThread, telegram: FakeTelegram
) -> None:
    telegram.send(1004, TROOPS)
    [reply] = replies(telegram, 1004)
    first = reply.params["text"].split("\n\n")[0]
    assert "30,000 troops in Belarus" in first
    assert "<i>Also reported by The Moscow Times" in first


def test_markup_in_questions_never_breaks_a_message(bot: BotThread, telegram: FakeTelegram) -> None:
    odd = 'What does <b>bold</b> & "that" </blockquote> mean?'
    telegram.send(1005, odd)
    telegram.send(1005, 'How many <b>Russian troops</b> & "tanks" are in Belarus</blockquote>?')
    first, second = sorted(
        replies(telegram, 1005, 2), key=lambda c: "<blockquote>" in c.params["text"]
    )
    assert (
        "&lt;b&gt;bold&lt;/b&gt; &amp; &quot;that&quot; &lt;/blockquote&gt;" in first.params["text"]
    )
    assert odd in plain_text(first.params["text"])
    assert second.params["text"].count("<blockquote>") == 3  # answered, and still valid


def test_off_topic_question_abstains_and_quotes_nothing(
    bot: BotThread, telegram: FakeTelegram
) -> None:
    telegram.send(1006, OFF_TOPIC)
    [reply] = replies(telegram, 1006)
    text = reply.params["text"]
    assert text == render.nothing_found(OFF_TOPIC)
    assert "nothing about" in text and "/sources" in text
    assert "<blockquote>" not in text and "reply_markup" not in reply.params


def test_a_question_too_long_gets_told_why(bot: BotThread, telegram: FakeTelegram) -> None:
    telegram.send(1007, "Belarus? " * 300)
    [reply] = replies(telegram, 1007)
    assert "ask in 2000 characters or fewer" in reply.params["text"]


# -- buttons -------------------------------------------------------------------------------


def test_more_shows_the_next_answers(bot: BotThread, telegram: FakeTelegram) -> None:
    telegram.send(1008, TROOPS)
    [first] = replies(telegram, 1008)
    query_id = telegram.press(first, "More ▸", user_id=1008)
    [answered] = telegram.wait_for(
        lambda c: c.method == "answerCallbackQuery" and c.params["callback_query_id"] == query_id
    )
    [_, more] = replies(telegram, 1008, 2)
    html = more.params["text"]
    assert "<b>4.</b>" in html and "<b>1.</b>" not in html
    assert [b["text"] for b in more.buttons()][:2] == ["👍 4", "👍 5"]
    [edit] = telegram.wait_for(
        lambda c: c.method == "editMessageReplyMarkup" and c.params["chat_id"] == 1008
    )
    assert edit.params["message_id"] == first.result["message_id"]
    assert "More ▸" not in [b["text"] for b in edit.buttons()]
    assert answered.status == 200


def test_thumbs_up_is_stored_with_question_article_offsets_and_chat(
    bot: BotThread, telegram: FakeTelegram, seed_retriever: Retriever
) -> None:
    telegram.send(1009, TROOPS, user_id=77)
    [reply] = replies(telegram, 1009)
    query_id = telegram.press(reply, "👍 1", user_id=77)
    [answered] = telegram.wait_for(
        lambda c: c.method == "answerCallbackQuery" and c.params["callback_query_id"] == query_id
    )
    assert answered.params["text"] == "Thanks! Noted 👍 for answer 1."
    expected = seed_retriever.ask(TROOPS, 8).answers[0]
    [vote] = [v for v in open_votes(bot.settings).votes() if v.chat_id == 1009]
    assert (vote.question, vote.rank, vote.vote, vote.user_id) == (TROOPS, 1, 1, 77)
    assert (vote.article_id, vote.start, vote.end) == (
        expected.source.article_id,
        expected.start,
        expected.end,
    )


def test_unknown_buttons_are_answered_too(bot: BotThread, telegram: FakeTelegram) -> None:
    telegram.send(1010, TROOPS)
    [reply] = replies(telegram, 1010)
    query_id = telegram.press(reply, "More ▸", user_id=1010, data="m:gone:3")
    [answered] = telegram.wait_for(
        lambda c: c.method == "answerCallbackQuery" and c.params["callback_query_id"] == query_id
    )
    assert "ask it again" in answered.params["text"]


# -- groups --------------------------------------------------------------------------------


def test_in_groups_only_messages_meant_for_the_bot_get_answers(
    bot: BotThread, telegram: FakeTelegram
) -> None:
    group = -1001011
    telegram.send(group, TROOPS, chat_type="supergroup", user_id=5)
    telegram.send(group, "lol same", chat_type="supergroup", user_id=6)
    mention = telegram.send(group, f"@qa_test_bot {TROOPS}", chat_type="supergroup", user_id=5)
    [first] = replies(telegram, group)
    reply_to_bot = telegram.send(
        group, BORDER, chat_type="supergroup", user_id=6, reply_to=first.result
    )
    command = telegram.send(
        group, f"/ask@qa_test_bot {OFF_TOPIC}", chat_type="supergroup", user_id=7
    )
    sent = replies(telegram, group, 3)
    by_reply = {c.params["reply_parameters"]["message_id"]: c.params["text"] for c in sent}
    assert set(by_reply) == {
        mention["message_id"],
        reply_to_bot["message_id"],
        command["message_id"],
    }
    assert "30,000 troops" in by_reply[mention["message_id"]]
    assert "Ukraine-Belarus border" in by_reply[reply_to_bot["message_id"]]
    assert by_reply[command["message_id"]] == render.nothing_found(OFF_TOPIC)
    telegram.send(1012, "/start")  # a later update, so the group's have all been handled
    replies(telegram, 1012)
    assert len(telegram.sent_to(group)) == 3
    assert (
        sum(
            1
            for c in telegram.calls
            if c.method == "sendChatAction" and c.params["chat_id"] == group
        )
        == 3
    )


def test_a_bare_mention_is_told_how_to_ask(bot: BotThread, telegram: FakeTelegram) -> None:
    telegram.send(-1001013, "@QA_test_bot", chat_type="group", user_id=5)
    [reply] = replies(telegram, -1001013)
    assert plain_text(reply.params["text"]).startswith("Ask me like this: @qa_test_bot How many")


# -- inline mode ---------------------------------------------------------------------------


def test_inline_query_offers_quotes_with_sources(bot: BotThread, telegram: FakeTelegram) -> None:
    query_id = telegram.inline(TROOPS, user_id=1014)
    [call] = telegram.wait_for(
        lambda c: c.method == "answerInlineQuery" and c.params["inline_query_id"] == query_id
    )
    results = call.params["results"]
    assert 1 <= len(results) <= 5
    first = results[0]
    assert first["type"] == "article" and first["title"] == "Foreign Policy"
    assert "30,000 troops" in first["description"]
    text = plain_text(first["input_message_content"]["message_text"])
    assert "30,000 troops in Belarus" in text
    assert (
        "— Russian, Ukrainian Presidents Propose Talks in Minsk, Foreign Policy, 2022-02-25" in text
    )


def test_empty_or_off_topic_inline_query_offers_nothing(
    bot: BotThread, telegram: FakeTelegram
) -> None:
    ids = [telegram.inline("", user_id=1015), telegram.inline(OFF_TOPIC, user_id=1015)]
    calls = telegram.wait_for(
        lambda c: c.method == "answerInlineQuery" and c.params["inline_query_id"] in ids, 2
    )
    assert [c.params["results"] for c in calls] == [[], []]


# -- robustness ----------------------------------------------------------------------------


def test_a_flooding_chat_is_told_once_and_then_skipped(
    bot: BotThread, telegram: FakeTelegram
) -> None:
    for _ in range(RATE_LIMIT + 3):
        telegram.send(1016, TROOPS)
    replies(telegram, 1016, RATE_LIMIT + 1)
    telegram.send(1017, "/start")  # a later update, so the flood has all been handled
    replies(telegram, 1017)
    texts = [c.params["text"] for c in telegram.sent_to(1016)]
    assert len(texts) == RATE_LIMIT + 1
    assert texts.count(render.slow_down()) == 1
    assert sum("<blockquote>" in t for t in texts) == RATE_LIMIT


def test_network_errors_are_retried(bot: BotThread, telegram: FakeTelegram) -> None:
    telegram.fail("sendMessage", 502)
    telegram.send(1019, TROOPS)
    [reply] = replies(telegram, 1019)
    attempts = telegram.sent_to(1019)
    assert [c.status for c in attempts] == [502, 200]
    assert attempts[0].params["text"] == reply.params["text"]


# -- bots with their own setup -------------------------------------------------------------


def test_errors_are_logged_without_the_token_and_the_bot_keeps_running(
    seed_settings: Settings,
    seed_index_dir: Path,
    real_encoder: Encoder,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeTelegram().running() as fake:
        settings = bot_settings(seed_settings, fake, tmp_path / "t.sqlite3")
        with running_bot(settings, real_encoder):
            fake.fail("sendMessage", 502, 502, 502, 502)  # every attempt of one reply
            fake.send(2001, TROOPS)
            [sorry] = replies(fake, 2001)
            assert sorry.params["text"] == render.failed()
            fake.send(2001, "/start")
            replies(fake, 2001, 2)
        assert_all_valid(fake)
    assert "update 1 failed" in caplog.text and "NetworkError" in caplog.text
    assert "Bot API sendMessage failed (HTTP 502); trying again" in caplog.text
    assert fake.token not in caplog.text
    assert REDACTED in caplog.text  # python-telegram-bot logged its url at DEBUG
    assert all(fake.token not in str(r.args) for r in caplog.records)


def test_allowlist_refuses_other_chats_politely(
    seed_settings: Settings, seed_index_dir: Path, real_encoder: Encoder, tmp_path: Path
) -> None:
    with FakeTelegram().running() as fake:
        settings = bot_settings(
            seed_settings, fake, tmp_path / "t.sqlite3", telegram_allowed_chats=(3001,)
        )
        with running_bot(settings, real_encoder):
            fake.send(3002, TROOPS)
            fake.send(3001, TROOPS)
            fake.inline(TROOPS, user_id=3002)
            [refusal] = replies(fake, 3002)
            [answer] = replies(fake, 3001)
            [inline] = fake.wait_for(lambda c: c.method == "answerInlineQuery")
        assert_all_valid(fake)
    assert refusal.params["text"] == render.refused(3002)
    assert "Sorry" in refusal.params["text"] and "3002" in refusal.params["text"]
    assert "<blockquote>" in answer.params["text"]
    assert inline.params["results"] == [] and inline.params["button"]["text"].startswith("Sorry")


def test_more_and_votes_work_after_a_restart(
    seed_settings: Settings, seed_index_dir: Path, real_encoder: Encoder, tmp_path: Path
) -> None:
    with FakeTelegram().running() as fake:
        settings = bot_settings(seed_settings, fake, tmp_path / "t.sqlite3")
        with running_bot(settings, real_encoder):
            fake.send(4001, TROOPS)
            [first] = replies(fake, 4001)
        with running_bot(settings, real_encoder):
            fake.press(first, "👎 2", user_id=4001)
            fake.press(first, "More ▸", user_id=4001)
            [_, more] = replies(fake, 4001, 2)
            fake.wait_for(lambda c: c.method == "answerCallbackQuery", 2)
        assert_all_valid(fake)
    assert "<b>4.</b>" in more.params["text"]
    [vote] = FeedbackStore(settings.telegram_db).votes()
    assert (vote.rank, vote.vote, vote.question) == (2, -1, TROOPS)


def test_without_a_token_the_bot_says_how_to_get_one(
    seed_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async def start() -> None:
        async with run_alongside(Service(seed_settings), seed_settings):
            pass

    with pytest.raises(QAError, match=r"@BotFather.*TELEGRAM_BOT_TOKEN"):
        asyncio.run(start())
    assert cli_main(["bot", "--index-dir", str(seed_settings.index_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no Telegram bot token: create a bot with @BotFather")
    assert err.count("\n") == 1


def test_a_rejected_token_is_an_error_that_does_not_show_it(
    seed_settings: Settings, tmp_path: Path
) -> None:
    with FakeTelegram(token="1:the-right-one").running() as fake:
        settings = bot_settings(seed_settings, fake, tmp_path / "t.sqlite3").model_copy(
            update={"telegram_bot_token": SecretStr("1:a-wrong-one")}
        )

        async def start() -> None:
            async with run_alongside(Service(settings), settings):
                pass

        with pytest.raises(QAError, match="Telegram rejected the bot token") as caught:
            asyncio.run(start())
    assert "a-wrong-one" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# -- the parts on their own ----------------------------------------------------------------


def test_rate_limiter_allows_then_notifies_once_then_drops_until_the_window_passes() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60.0, clock=lambda: now[0])
    verdicts = [limiter.check(1) for _ in range(4)]
    assert verdicts == [Verdict.ALLOW, Verdict.ALLOW, Verdict.NOTIFY, Verdict.DROP]
    assert limiter.check(2) is Verdict.ALLOW  # another chat is not held up
    now[0] = 60.5
    assert [limiter.check(1) for _ in range(4)] == verdicts  # and the notice comes again


def test_feedback_store_keeps_votes_one_per_user_and_answer(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "db" / "f.sqlite3")
    question_id = store.add_question(5, 6, "Q?")
    shown = answer_out(Answer("Quote.", "Quote. More.", 0.7, 10, 16, Source("art")))
    store.add_shown(question_id, 1, [shown])
    assert store.vote(question_id, 1, 6, 5, 1)
    assert store.vote(question_id, 1, 6, 5, -1)  # changed their mind
    assert not store.vote(question_id, 2, 6, 5, 1)  # no answer 2 was shown
    assert not store.vote("nope", 1, 6, 5, 1)
    again = FeedbackStore(tmp_path / "db" / "f.sqlite3")
    [vote] = again.votes()
    assert (vote.question, vote.article_id, vote.start, vote.end, vote.vote) == (
        "Q?",
        "art",
        10,
        16,
        -1,
    )
    assert again.question(question_id) is not None and again.question("nope") is None


def test_feedback_store_that_cannot_be_written_says_what_to_set(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(QAError, match="QA_TELEGRAM_DB"):
        FeedbackStore(tmp_path / "file" / "f.sqlite3")


def test_token_filter_redacts_messages_arguments_and_tracebacks() -> None:
    token = "42:secret"
    try:
        raise RuntimeError(f"https://api.telegram.org/bot{token}/getMe")
    except RuntimeError as exc:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "url %s", (token,), (type(exc), exc, exc.__traceback__)
        )
    TokenFilter(token).filter(record)
    formatted = logging.Formatter().format(record)
    assert token not in formatted and formatted.count(REDACTED) == 2


def test_settings_read_the_token_and_allowlist_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:abc")
    monkeypatch.setenv("QA_TELEGRAM_ALLOWED_CHATS", "12, -100345")
    monkeypatch.setenv("QA_TELEGRAM_BASE_URL", "http://localhost:8081/bot")
    settings = Settings()
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == "1:abc"
    assert "1:abc" not in repr(settings)
    assert settings.telegram_allowed_chats == (12, -100345)
    assert settings.telegram_base_url == "http://localhost:8081/bot"
    monkeypatch.setenv("QA_TELEGRAM_ALLOWED_CHATS", "[7]")
    assert Settings().telegram_allowed_chats == (7,)


def test_serve_runs_the_api_and_the_bot_in_one_process(
    telegram: FakeTelegram,
    seed_settings: Settings,
    seed_index_dir: Path,
    real_encoder: Encoder,
    tmp_path: Path,
) -> None:
    settings = bot_settings(seed_settings, telegram, tmp_path / "telegram.sqlite3")
    app = create_app(settings, encoder=lambda: real_encoder, sidecars=(run_alongside,))
    with running(app) as url:
        asked = httpx.get(f"{url}/ask", params={"q": TROOPS, "k": 1}).json()
        assert "30,000 troops" in asked["answers"][0]["quote"]
        telegram.send(1090, TROOPS)
        [reply] = replies(telegram, 1090)
        assert "30,000 troops" in reply.params["text"]


def test_serve_without_a_reachable_bot_api_still_serves(
    seed_settings: Settings, seed_index_dir: Path, real_encoder: Encoder, tmp_path: Path
) -> None:
    settings = seed_settings.model_copy(
        update={
            "telegram_bot_token": SecretStr("123:abc"),
            "telegram_base_url": "http://127.0.0.1:9/bot",  # nothing listens on port 9
            "telegram_db": tmp_path / "telegram.sqlite3",
        }
    )
    app = create_app(settings, encoder=lambda: real_encoder, sidecars=(run_alongside,))
    with running(app) as url:
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
