"""The Telegram bot under a flood: 2,000 updates from 100 chats through the stand-in Bot
API, which fails about 30 % of the calls that send something with a 5xx or a 429.

Questions, commands, edits, stickers, messages over 4,096 characters and buttons with
data that does not exist, mixed. Every update that should get a reply gets exactly one
(through the retries), a chat past the rate limit is told once and then skipped, edits
and stickers get nothing, every button press is answered, and memory stays flat.
"""

from __future__ import annotations

import gc
import random
import resource
import time
from pathlib import Path
from typing import Any

from qa.config import Settings
from qa.encoders import Encoder
from tests.fake_telegram import FakeTelegram
from tests.test_bot import assert_all_valid, bot_settings, running_bot

CHATS = 100
UPDATES = 2_000
FLOODERS = 10  # chats that ask past the limit
LIMIT = 12  # questions and commands one chat may send in the (long) window
QUESTIONS = (
    "How many Russian troops are in Belarus?",
    "Where did Russian and Ukrainian delegations meet for the second round?",
    "Who led the Russian delegation?",
    "What is the capital of Australia?",
)
KINDS = ("question", "command", "edit", "sticker", "long", "button")
WEIGHTS = (0.45, 0.15, 0.1, 0.1, 0.05, 0.15)


def _message(fake: FakeTelegram, chat_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": random.randint(10_000, 10**9),
        "date": int(time.time()),
        "chat": fake.chat(chat_id),
        "from": fake.user(chat_id),
        **fields,
    }


def _send(fake: FakeTelegram, rng: random.Random, chat_id: int, kind: str) -> bool:
    """Push one update; True if the bot should reply to it (rate limit aside)."""
    if kind == "question":
        fake.send(chat_id, rng.choice(QUESTIONS))
    elif kind == "command":
        fake.send(chat_id, rng.choice(["/start", "/help", "/sources", "/nonsense"]))
    elif kind == "long":
        fake.send(chat_id, "Why? " * 1_000)  # 5,000 characters: told it is too long
    elif kind == "edit":
        fake.push({"edited_message": {**_message(fake, chat_id, text="edited"), "edit_date": 1}})
    elif kind == "sticker":
        sticker = {
            "file_id": "s1",
            "file_unique_id": "u1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        fake.push({"message": _message(fake, chat_id, sticker=sticker)})
    else:
        fake.push(
            {
                "callback_query": {
                    "id": f"cq{rng.randint(0, 10**9)}",
                    "from": fake.user(chat_id),
                    "message": _message(
                        fake,
                        chat_id,
                        text="old",
                        **{"from": {"id": 1, "is_bot": True, "first_name": "QA"}},
                    ),
                    "chat_instance": "ci",
                    # Not More-shaped: a More press counts against the chat's rate limit
                    # (it costs a model call), which would blur what is counted here.
                    "data": rng.choice(["", "x" * 64, "v:nope:1:1", "no such button", "\u2603"]),
                }
            }
        )
        return False
    return kind in {"question", "command", "long"}


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _replies(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [
        c.params["text"]
        for c in fake.calls
        if c.method == "sendMessage" and c.params.get("chat_id") == chat_id and c.status == 200
    ]


def _flood(fake: FakeTelegram, rng: random.Random, updates: int, expected: dict[int, int]) -> int:
    """Push ``updates`` updates; count per chat those that want a reply. Returns buttons."""
    buttons = 0
    for n in range(updates):
        chat_id = 5_000 + n % CHATS
        flooder = n % CHATS < FLOODERS
        kind = "question" if flooder else rng.choices(KINDS, WEIGHTS)[0]
        buttons += kind == "button"
        if _send(fake, rng, chat_id, kind):
            expected[chat_id] = expected.get(chat_id, 0) + 1
    return buttons


def _wait_until_quiet(fake: FakeTelegram, seconds: float = 15.0, limit: float = 1_800.0) -> None:
    """Until the bot has made no call for ``seconds`` (polling aside)."""
    deadline, last, quiet_since = time.monotonic() + limit, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = sum(1 for c in fake.calls if c.method != "getUpdates")
        if count != last:
            last, quiet_since = count, time.monotonic()
        elif time.monotonic() - quiet_since > seconds:
            return
        time.sleep(1.0)
    raise AssertionError("the bot was still busy after the flood")


def test_a_flood_of_2000_updates_from_100_chats_through_a_failing_bot_api(
    seed_settings: Settings, seed_index_dir: Path, real_encoder: Encoder, tmp_path: Path
) -> None:
    rng = random.Random(2000)
    expected: dict[int, int] = {}
    with FakeTelegram().running() as fake:
        settings = bot_settings(
            seed_settings,
            fake,
            tmp_path / "telegram.sqlite3",
            telegram_rate_limit=LIMIT,
            telegram_rate_window=3_600.0,
        )
        with running_bot(settings, real_encoder):
            fake.flaky(0.3, seed=16)
            buttons = _flood(fake, rng, UPDATES // 2, expected)
            _wait_until_quiet(fake)
            gc.collect()
            halfway = _rss_mb()
            buttons += _flood(fake, rng, UPDATES // 2, expected)
            _wait_until_quiet(fake)
            gc.collect()
            grown = _rss_mb() - halfway
        calls = [c for c in fake.calls if c.method not in {"getUpdates", "getMe"}]
        failed = sum(c.status != 200 for c in calls) / len(calls)
        print(f"\nflood: {len(calls)} Bot API calls, {failed:.0%} failed; RSS grew {grown:.1f} MB")
        assert failed > 0.2, "the stand-in did not fail enough calls to test the retries"
        for chat_id in range(5_000, 5_000 + CHATS):
            replies = _replies(fake, chat_id)
            wanted = expected.get(chat_id, 0)
            if wanted > LIMIT:  # the limit, then one notice, then silence
                assert len(replies) == LIMIT + 1, (chat_id, wanted, len(replies))
                assert sum("asking faster than I can answer" in r for r in replies) == 1
            else:
                assert len(replies) == wanted, (chat_id, wanted, len(replies))
        answered = [c for c in fake.calls if c.method == "answerCallbackQuery" and c.status == 200]
        assert len(answered) == buttons
        assert grown < 64, f"memory grew {grown:.1f} MB over the second 1,000 updates"
        assert_all_valid(fake)  # the stand-in's 5xx and 429 aside, nothing was refused
