"""The Telegram bot: `qa bot` runs it alone; `qa serve` runs it beside the HTTP API.

Both share one ``qa.service.Service`` (the model and the index, loaded once) and poll
Telegram for updates. ``build_application`` makes the python-telegram-bot Application,
``run_alongside`` runs it inside an event loop that is already running, and ``run`` is
`qa bot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from telegram import BotCommand, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bots.handlers import Handlers
from bots.logs import token_kept_out
from qa.config import Settings
from qa.errors import QAError
from qa.feedback import open_votes
from qa.logs import configure_logging
from qa.service import NotReadyError, Service

log = logging.getLogger(__name__)
App = Application[Any, Any, Any, Any, Any, Any]
RETRY_DELAYS = (0.5, 1.0, 2.0)  # seconds before the 2nd, 3rd and 4th attempt of a call
RETRY_AFTER_MAX = 30.0  # a flood-control wait longer than this is not waited out
CONCURRENT_UPDATES = 32  # questions from different chats are answered (and batched) together
COMMANDS = (
    ("ask", "Ask a question (in groups)"),
    ("sources", "The articles I quote from"),
    ("help", "What I know and how to ask"),
)
UPDATES = (Update.MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY)
NO_TOKEN = (
    "no Telegram bot token: create a bot with @BotFather in Telegram "
    "(https://t.me/BotFather, /newbot) and set TELEGRAM_BOT_TOKEN to the token it gives you"
)


def bot_token(settings: Settings) -> str:
    """The token, or a QAError that says how to get one."""
    secret = settings.telegram_bot_token
    token = secret.get_secret_value().strip() if secret else ""
    if not token:
        raise QAError(NO_TOKEN)
    return token


class RetryingRequest(HTTPXRequest):
    """Bot API calls that retry, with backoff, after network errors, 5xx and 429 answers.

    Long polling (getUpdates) has its own request object and python-telegram-bot's own
    retry loop; this one serves every other call. A call that timed out may have arrived,
    so a retried message can, rarely, come twice: better than an answer that never comes.
    """

    def __init__(self, delays: Sequence[float] = RETRY_DELAYS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delays = tuple(delays)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        attempt = functools.partial(
            super().do_request,
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout,
        )  # fmt: skip
        endpoint = url.rsplit("/", 1)[-1]  # the url before it holds the token
        for delay in self.delays:
            try:
                code, payload = await attempt()
            except NetworkError as exc:  # raised here only for the network, TimedOut included
                problem = f"{type(exc).__name__}: {exc}".replace(url, endpoint)
            else:
                wait = _retry_after(code, payload)
                if (code < 500 and wait is None) or (wait or 0) > RETRY_AFTER_MAX:
                    return code, payload
                problem, delay = f"HTTP {code}", max(delay, wait or 0)
            log.warning("Bot API %s failed (%s); trying again in %.1f s", endpoint, problem, delay)
            await asyncio.sleep(delay)
        return await attempt()  # the last try: its failure is final


def _retry_after(code: int, payload: bytes) -> float | None:
    """Seconds Telegram asks to wait (429 Too Many Requests), else None."""
    if code != 429:
        return None
    try:
        return float(json.loads(payload)["parameters"]["retry_after"])
    except (ValueError, KeyError, TypeError):
        return 1.0


def build_application(service: Service, settings: Settings) -> App:
    """The Application with every handler registered; not yet initialized or started."""
    app: App = (
        ApplicationBuilder()
        .token(bot_token(settings))
        .base_url(settings.telegram_base_url)
        .request(RetryingRequest(connection_pool_size=2 * CONCURRENT_UPDATES))
        .concurrent_updates(CONCURRENT_UPDATES)
        .build()
    )
    Handlers(service, settings, open_votes(settings)).register(app)
    return app


@asynccontextmanager
async def run_alongside(service: Service, settings: Settings) -> AsyncIterator[App]:
    """Poll Telegram in the running event loop while inside; stop cleanly on the way out.

    ``service`` must be started already; it is shared, not stopped here. Raises QAError
    (with what to do) when there is no token, Telegram rejects it, or the Bot API server
    cannot be reached.
    """
    token = bot_token(settings)
    with token_kept_out(token):
        app = build_application(service, settings)
        try:
            await _initialize(app, settings)
            await _set_commands(app)
            await app.start()
            assert app.updater is not None  # the builder makes one unless told not to
            await app.updater.start_polling(allowed_updates=list(UPDATES), bootstrap_retries=3)
            log.info("Telegram bot @%s is answering", app.bot.username)
            yield app
        finally:
            await _stop(app)


async def _initialize(app: App, settings: Settings) -> None:
    """Fetch the bot's own name (getMe); turn the likely failures into what to do."""
    try:
        await app.initialize()
    except InvalidToken:
        # `from None`: python-telegram-bot's message for this holds the token itself.
        raise QAError(
            "Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN against the token "
            "@BotFather gave you (/mybots, API Token)"
        ) from None
    except NetworkError as exc:
        raise QAError(
            f"cannot reach the Telegram Bot API at {settings.telegram_base_url} "
            f"({type(exc).__name__}): check the network, or QA_TELEGRAM_BASE_URL"
        ) from None


async def _set_commands(app: App) -> None:
    """The command menu in Telegram's clients; the bot works without it."""
    try:
        await app.bot.set_my_commands([BotCommand(name, about) for name, about in COMMANDS])
    except TelegramError as exc:
        log.warning("could not set the bot's command menu: %s", type(exc).__name__)


async def _stop(app: App) -> None:
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await app.shutdown()
    await app.bot.shutdown()  # after a failed initialize the app leaves its connections open


def run(settings: Settings) -> None:
    """`qa bot`: load the model and the index, then answer until Ctrl-C or SIGTERM."""
    bot_token(settings)  # before the model loads, which takes a while
    configure_logging()
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    service = Service(settings)
    await service.start()
    try:
        if not service.ready:
            raise NotReadyError(service.problem or "the index is not loaded")
        async with run_alongside(service, settings):
            await _until_stopped()
    finally:
        await service.stop()


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("stopping the Telegram bot")
    finally:
        for sig in signals:
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)
