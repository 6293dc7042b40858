"""A stand-in for the Telegram Bot API on a free loopback port, for end-to-end tests.

The real python-telegram-bot Application talks to it over HTTP (its ``base_url`` points
here). It hands out scripted updates through getUpdates, long polling like Telegram,
answers the other methods with plausible objects, and records every call: the method and
its parameters, whether they came as JSON, form-encoded or multipart. Like Telegram, it
refuses HTML it could not parse (400 "can't parse entities"), so a bad message fails
the test that sent it.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "123456789:AAF-fake-token-for-tests_0123456789ab"
BOT_USER: dict[str, Any] = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "QA",
    "username": "qa_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}
LIMIT = 4096
CALLBACK_DATA_MAX = 64
CALLBACK_TEXT_MAX = 200
POLL_MAX = 2.0  # seconds a getUpdates waits at most, whatever timeout it asks for
# Parameters that arrive JSON-encoded in form bodies, and those that are whole numbers.
_JSON_PARAMS = {
    "reply_markup",
    "results",
    "entities",
    "allowed_updates",
    "commands",
    "button",
    "link_preview_options",
    "reply_parameters",
}
_INT_PARAMS = {"chat_id", "message_id", "offset", "timeout", "limit", "cache_time", "user_id"}


# -- what Telegram accepts as HTML ---------------------------------------------------------

ALLOWED_TAGS: dict[str, set[str]] = {
    "b": set(),
    "strong": set(),
    "i": set(),
    "em": set(),
    "u": set(),
    "ins": set(),
    "s": set(),
    "strike": set(),
    "del": set(),
    "span": {"class"},
    "tg-spoiler": set(),
    "a": {"href"},
    "tg-emoji": {"emoji-id"},
    "code": {"class"},
    "pre": set(),
    "blockquote": {"expandable"},
}
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")


def telegram_length(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}> is not allowed")
        for name, value in attrs:
            if name not in ALLOWED_TAGS.get(tag, set()):
                self.problems.append(f"attribute {name} of <{tag}> is not allowed")
            if tag == "a" and name == "href" and not re.match(r"(https?|tg)://", value or ""):
                self.problems.append(f"link {value!r} is not http(s) or tg")
            if tag == "span" and name == "class" and value != "tg-spoiler":
                self.problems.append("<span> is only for class tg-spoiler")
        if tag == "a" and not any(name == "href" for name, _ in attrs):
            self.problems.append("<a> without href")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"self-closing <{tag}/> is not allowed")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> does not close the open {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        for char in "<>&":
            if char in data:
                self.problems.append(f"unescaped {char!r} in text")
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        self.text.append(unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(unescape(f"&#{name};"))

    def handle_comment(self, data: str) -> None:
        self.problems.append("comments are not allowed")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("declarations are not allowed")

    def handle_pi(self, data: str) -> None:
        self.problems.append("processing instructions are not allowed")

    def unknown_decl(self, data: str) -> None:
        self.problems.append("declarations are not allowed")


def html_problems(text: str) -> list[str]:
    """Why Telegram would refuse ``text`` as an HTML message; empty if it would not.

    Only Telegram's tags, balanced; ``<``, ``>`` and ``&`` in text escaped; only the four
    named entities and numeric ones; at most 4,096 UTF-16 units, tags included (stricter
    than Telegram, which counts after parsing).
    """
    checker = _Checker()
    checker.feed(text)
    checker.close()
    problems = list(checker.problems)
    if checker.stack:
        problems.append(f"unclosed {checker.stack}")
    for match in re.finditer("&", text):
        if not _ENTITY.match(text, match.start()):
            problems.append(f"bad entity at {text[match.start() : match.start() + 10]!r}")
    if telegram_length(text) > LIMIT:
        problems.append(f"{telegram_length(text)} characters, over {LIMIT}")
    if not "".join(checker.text).strip():
        problems.append("no text")
    return problems


def plain_text(text: str) -> str:
    """What a reader sees of an HTML message: the text, entities resolved, no tags."""
    checker = _Checker()
    checker.feed(text)
    checker.close()
    return "".join(checker.text)


# -- the server --------------------------------------------------------------------------


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    status: int = 200
    result: Any = None

    def html(self) -> list[str]:
        """The HTML texts this call sends (answerInlineQuery sends one per result)."""
        if self.method == "answerInlineQuery":
            return [
                r["input_message_content"]["message_text"]
                for r in self.params.get("results", [])
                if r.get("input_message_content", {}).get("parse_mode") == "HTML"
            ]
        if "text" in self.params and self.params.get("parse_mode") == "HTML":
            return [self.params["text"]]
        return []

    def buttons(self) -> list[dict[str, Any]]:
        markup = self.params.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)
    flaky: tuple[float, random.Random] | None = None  # share of calls to fail, and dice
    failed_tries: dict[int, int] = field(default_factory=dict)  # request -> times failed
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    sent: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    next_update: int = 1
    next_message: int = 1000
    closed: bool = False


class FakeTelegram:
    """The Bot API for one bot token, on 127.0.0.1 and a port the OS picks."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self._state = _State()
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    def start(self) -> FakeTelegram:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._state.closed = True
            self._changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    @contextmanager
    def running(self) -> Iterator[FakeTelegram]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    # -- scripting what users do ---------------------------------------------------------

    def user(self, user_id: int) -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User{user_id}",
            "language_code": "en",
        }

    def chat(self, chat_id: int, chat_type: str = "private") -> dict[str, Any]:
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
        else:
            chat = {"id": chat_id, "type": chat_type, "title": f"Group {chat_id}"}
        with self._changed:
            self._state.chats[chat_id] = chat
        return chat

    def send(
        self,
        chat_id: int,
        text: str,
        *,
        chat_type: str = "private",
        user_id: int | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A user writes ``text`` in a chat; returns the message as the bot will get it."""
        user_id = user_id if user_id is not None else abs(chat_id)
        message: dict[str, Any] = {
            "message_id": self._message_id(),
            "date": int(time.time()),
            "chat": self.chat(chat_id, chat_type),
            "from": self.user(user_id),
            "text": text,
        }
        command = re.match(r"/\w+(@\w+)?", text)
        if command:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        self._push({"message": message})
        return message

    def press(self, call: Call, button_text: str, user_id: int, data: str | None = None) -> str:
        """A user presses a button under a message the bot sent; returns the query id.

        ``data`` replaces what the button carries, as from a button of an older bot.
        """
        if data is None:
            data = next(b["callback_data"] for b in call.buttons() if b["text"] == button_text)
        query_id = f"cq{self._message_id()}"
        self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user(user_id),
                    "message": call.result,
                    "chat_instance": "ci-1",
                    "data": data,
                }
            }
        )
        return query_id

    def inline(self, query: str, user_id: int) -> str:
        """A user types ``@bot query`` in some chat; returns the inline query id."""
        query_id = f"iq{self._message_id()}"
        self._push(
            {
                "inline_query": {
                    "id": query_id,
                    "from": self.user(user_id),
                    "query": query,
                    "offset": "",
                    "chat_type": "private",
                }
            }
        )
        return query_id

    def push(self, update: dict[str, Any]) -> None:
        """Any update as Telegram would send it (edits, stickers, ...); an id is added."""
        self._push(update)

    def flaky(self, share: float, seed: int = 0) -> None:
        """Fail about ``share`` of the calls that send something (not getMe or
        getUpdates) with a 5xx or a 429, as a struggling Bot API does; the same request
        fails at most twice in a row, so retries get through."""
        with self._changed:
            self._state.flaky = (share, random.Random(seed))

    def fail(self, method: str, *statuses: int) -> None:
        """Answer the next calls of ``method`` with these HTTP statuses (e.g. 502)."""
        with self._changed:
            self._state.failures.setdefault(method, []).extend(statuses)

    # -- observing what the bot did ------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._changed:
            return list(self._state.calls)

    def wait_for(
        self, predicate: Callable[[Call], bool], count: int = 1, timeout: float = 20.0
    ) -> list[Call]:
        """The calls matching ``predicate``, once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self._state.calls if predicate(c)]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    break
                self._changed.wait(remaining)
        assert len(found) >= count, (
            f"waited {timeout} s for {count} matching calls, got {len(found)}: "
            f"{[(c.method, c.params) for c in self.calls[-10:]]}"
        )
        return found

    def sent_to(self, chat_id: int) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == "sendMessage" and c.params.get("chat_id") == chat_id
        ]

    # -- serving -------------------------------------------------------------------------

    def _message_id(self) -> int:
        with self._changed:
            self._state.next_message += 1
            return self._state.next_message

    def _push(self, update: dict[str, Any]) -> None:
        with self._changed:
            update["update_id"] = self._state.next_update
            self._state.next_update += 1
            self._state.updates.append(update)
            self._changed.notify_all()

    def handle(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        match = re.fullmatch(r"/bot(?P<token>[^/]+)/(?P<method>\w+)", urlsplit(path).path)
        if match is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        method = match["method"]
        params = _parse(content_type, body)
        call = Call(method, params)
        if match["token"] != self.token:
            status, payload = 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        elif failure := self._failure(method) or self._flake(method, body):
            status, payload = failure, {"ok": False, "error_code": failure, "description": "Bad"}
            if failure == 429:
                payload["parameters"] = {"retry_after": 1}
        elif problems := _problems(call):
            status = 400
            payload = {
                "ok": False,
                "error_code": 400,
                "description": f"Bad Request: can't parse entities: {'; '.join(problems)}",
            }
        else:
            status, payload = 200, {"ok": True, "result": self._result(method, params)}
        call.status, call.result = status, payload.get("result")
        with self._changed:
            self._state.calls.append(call)
            self._changed.notify_all()
        return status, payload

    def _failure(self, method: str) -> int | None:
        with self._changed:
            pending = self._state.failures.get(method)
            return pending.pop(0) if pending else None

    def _flake(self, method: str, body: bytes) -> int | None:
        with self._changed:
            flaky = self._state.flaky
            if flaky is None or method in {"getMe", "getUpdates"}:
                return None
            share, dice = flaky
            key = hash((method, body))
            if self._state.failed_tries.get(key, 0) >= 2 or dice.random() >= share:
                self._state.failed_tries.pop(key, None)
                return None
            self._state.failed_tries[key] = self._state.failed_tries.get(key, 0) + 1
            return dice.choice((500, 502, 503, 429))

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            return self._updates(params)
        if method == "sendMessage":
            return self._message(params)
        if method in {"editMessageText", "editMessageReplyMarkup"}:
            key = (params.get("chat_id"), params.get("message_id"))
            with self._changed:
                message = self._state.sent.get(key)  # type: ignore[arg-type]
            if message is None:
                return True  # an inline message
            updated = {**message, "reply_markup": params.get("reply_markup")}
            if "text" in params:
                updated["text"] = plain_text(params["text"])
            return updated
        return True  # answerCallbackQuery, sendChatAction, deleteWebhook, setMyCommands, ...

    def _updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = params.get("offset") or 0
        wait = min(float(params.get("timeout") or 0), POLL_MAX)
        deadline = time.monotonic() + wait
        with self._changed:
            while True:
                self._state.updates = [u for u in self._state.updates if u["update_id"] >= offset]
                remaining = deadline - time.monotonic()
                if self._state.updates or remaining <= 0 or self._state.closed:
                    return list(self._state.updates)
                self._changed.wait(remaining)

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params["chat_id"]
        with self._changed:
            chat = self._state.chats.get(chat_id, {"id": chat_id, "type": "private"})
        text = params.get("text", "")
        message: dict[str, Any] = {
            "message_id": self._message_id(),
            "date": int(time.time()),
            "chat": chat,
            "from": BOT_USER,
            "text": plain_text(text) if params.get("parse_mode") == "HTML" else text,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        with self._changed:
            self._state.sent[(chat_id, message["message_id"])] = message
        return message


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    fake: FakeTelegram

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read the recorded calls instead

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, payload = self.fake.handle(self.path, self.headers.get("Content-Type", ""), body)
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the bot gave up on a long poll while stopping


def _parse(content_type: str, body: bytes) -> dict[str, Any]:
    """Parameters from a JSON, form-encoded or multipart body, with JSON values decoded."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        return dict(json.loads(body or b"{}"))
    if kind == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        raw = {
            str(part.get_param("name", header="content-disposition")): part.get_content()
            for part in message.iter_parts()
        }
    else:
        raw = {
            key: values[-1]
            for key, values in parse_qs(body.decode(), keep_blank_values=True).items()
        }
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, bytes):
            value = value.decode()
        if key in _JSON_PARAMS:
            value = json.loads(value)
        elif key in _INT_PARAMS and re.fullmatch(r"-?\d+", value):
            value = int(value)
        params[key] = value
    return params


def _problems(call: Call) -> list[str]:
    """What Telegram would refuse in a call: bad HTML, long texts, long callback data."""
    problems = [p for text in call.html() for p in html_problems(text)]
    for button in call.buttons():
        data = button.get("callback_data")
        if data is not None and len(data.encode()) > CALLBACK_DATA_MAX:
            problems.append(f"callback_data {data!r} is over {CALLBACK_DATA_MAX} bytes")
    if (
        call.method == "answerCallbackQuery"
        and len(call.params.get("text") or "") > CALLBACK_TEXT_MAX
    ):
        problems.append("callback answer text is too long")
    return problems
