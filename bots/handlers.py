"""Thin async handlers: decide whether to answer, ask the Service, send what render made.

In a private chat every text is a question. In a group the bot answers only when it is
addressed (a mention, a reply to it, or /ask), so that it never joins other chatter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from telegram import (
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bots import buttons, render
from bots.limits import RateLimiter, Verdict
from bots.logs import describe
from qa.config import Settings
from qa.errors import InputError, TryLaterError
from qa.feedback import Votes
from qa.schemas import AskResponse, SourceOut, ask_response, source_out
from qa.service import NotReadyError, Service

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
EXTRA = 5  # answers fetched beyond the page: to know if there is More, and to compare outlets
INLINE_ANSWERS = 5
INLINE_BURST = 3  # inline queries come as the user types: allow this many times more


class Handlers:
    """The bot's behaviour; one per Application, holding what its handlers share."""

    def __init__(self, service: Service, settings: Settings, store: Votes) -> None:
        self.service = service
        self.settings = settings
        self.store = store
        window = settings.telegram_rate_window
        self.limiter = RateLimiter(settings.telegram_rate_limit, window)
        self.inline_limiter = RateLimiter(settings.telegram_rate_limit * INLINE_BURST, window)
        self.allowed = frozenset(settings.telegram_allowed_chats)
        secret = settings.telegram_bot_token
        self.token = secret.get_secret_value() if secret else ""

    def register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        new = filters.UpdateType.MESSAGE  # edits of old messages are not new questions
        app.add_handler(CommandHandler(["start", "help"], self.help, filters=new))
        app.add_handler(CommandHandler("sources", self.sources, filters=new))
        app.add_handler(CommandHandler("ask", self.ask, filters=new))
        app.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND, self.message))
        app.add_handler(
            MessageHandler(new & filters.COMMAND & filters.ChatType.PRIVATE, self.other)
        )
        app.add_handler(CallbackQueryHandler(self.button))
        app.add_handler(InlineQueryHandler(self.inline))
        app.add_error_handler(self.error)

    # -- commands and messages ----------------------------------------------------

    async def help(self, update: Update, context: Context) -> None:
        """/start and /help: what the bot knows, and how to ask it."""
        message, sources = await self._known_sources(update)
        if message is not None and sources is not None:
            text = render.help_text(sources, self.settings.telegram_examples, context.bot.username)
            await self._reply(message, text)

    async def sources(self, update: Update, context: Context) -> None:
        """/sources: the articles, so people know what they can ask about."""
        message, sources = await self._known_sources(update)
        if message is None or sources is None:
            return
        for text in render.sources(sources):
            await self._reply(message, text)

    async def _known_sources(self, update: Update) -> tuple[Message | None, list[SourceOut] | None]:
        """The message to answer and the articles' sources; None where there is nothing
        to say (a chat not admitted) or the index is not ready (then that is said)."""
        message = update.effective_message
        if message is None or not await self._admit(message):
            return None, None
        try:
            return message, [source_out(a.source) for a in self.service.articles()]
        except NotReadyError:
            await self._reply(message, render.not_ready(self.service.problem))
            return message, None

    async def ask(self, update: Update, context: Context) -> None:
        """/ask QUESTION: the way to ask in a group without a mention."""
        message = update.effective_message
        if message is None or message.text is None:
            return
        parts = message.text.split(maxsplit=1)
        await self._answer(message, parts[1] if len(parts) > 1 else "", context)

    async def message(self, update: Update, context: Context) -> None:
        """Any other text: a question in a private chat, or in a group if addressed."""
        message = update.effective_message
        if message is None or message.text is None:
            return
        question: str | None = message.text
        if message.chat.type != ChatType.PRIVATE:
            question = addressed(message, context.bot.username, context.bot.id)
        if question is not None:
            await self._answer(message, question, context)

    async def other(self, update: Update, context: Context) -> None:
        """An unknown command in a private chat: say what the bot understands."""
        message = update.effective_message
        if message is not None and await self._admit(message):
            await self._reply(message, render.unknown_command())

    async def _answer(self, message: Message, question: str, context: Context) -> None:
        if not await self._admit(message):
            return
        if not question.strip():
            example = next(iter(self.settings.telegram_examples), "What happened?")
            await self._reply(message, render.ask_how(context.bot.username, example))
            return
        await self._typing(message)
        result = await self._ask(message, question, 0)
        if result is None:
            return
        if result.abstained:
            await self._reply(message, render.nothing_found(question))
            return
        user = message.from_user.id if message.from_user else None
        question_id = await asyncio.to_thread(
            self.store.add_question, message.chat_id, user, question
        )
        await self._send_page(message, question_id, result, 0)

    async def _ask(self, message: Message, question: str, shown: int) -> AskResponse | None:
        """The answers from ``shown`` on (and some beyond); None once the user was told why not."""
        k = min(shown + render.PAGE + EXTRA, self.settings.max_k)
        try:
            return ask_response(await self.service.ask(question, k))
        except InputError as exc:
            await self._reply(message, render.bad_question(str(exc)))
        except NotReadyError:
            await self._reply(message, render.not_ready(self.service.problem))
        except TryLaterError:
            await self._reply(message, render.busy())
        return None

    async def _send_page(
        self, message: Message, question_id: str, result: AskResponse, shown: int
    ) -> None:
        page = result.answers[shown : shown + render.PAGE]
        await asyncio.to_thread(self.store.add_shown, question_id, shown + 1, page)
        more = len(result.answers) > shown + len(page)
        markup = buttons.keyboard(question_id, shown + 1, len(page), more)
        texts = render.answers(result, shown)
        for n, text in enumerate(texts, start=1):
            await self._reply(message, text, markup if n == len(texts) else None)

    # -- buttons --------------------------------------------------------------------

    async def button(self, update: Update, context: Context) -> None:
        """More, 👍 and 👎. The query is always answered, so the button stops spinning."""
        query = update.callback_query
        if query is None:
            return
        note: str | None = None
        try:
            note = await self._press(update)
        except Exception:
            note = render.failed()
            raise  # to the error handler, which logs it
        finally:
            await query.answer(note)

    async def _press(self, update: Update) -> str | None:
        """Do what the button asks; return the short note shown to the user, if any."""
        query = update.callback_query
        assert query is not None
        message = query.message if isinstance(query.message, Message) else None
        chat_id = message.chat_id if message else query.from_user.id
        if self.allowed and chat_id not in self.allowed:
            return "Sorry, I only answer in the chats I was set up for."
        pressed = buttons.parse(query.data)
        if pressed is None:
            return "This button no longer works; please ask again."
        if isinstance(pressed, buttons.VoteOn):
            known = await asyncio.to_thread(
                self.store.vote,
                pressed.question_id,
                pressed.rank,
                query.from_user.id,
                chat_id,
                pressed.vote,
            )
            if not known:
                return "I no longer know that answer; please ask again."
            return f"Thanks! Noted {'👍' if pressed.vote > 0 else '👎'} for answer {pressed.rank}."
        if message is None:
            return "Please ask again to see more."
        if self.limiter.check(chat_id) is not Verdict.ALLOW:
            return "You are asking faster than I can answer well. Please wait a minute."
        return await self._more(message, pressed)

    async def _more(self, message: Message, pressed: buttons.More) -> str | None:
        asked = await asyncio.to_thread(self.store.question, pressed.question_id)
        if asked is None:
            return "I no longer know this question; please ask it again."
        await self._typing(message)
        result = await self._ask(message, asked.question, pressed.shown)
        if result is None:
            return None
        if message.reply_markup is not None:
            await self._drop_more(message, message.reply_markup)
        if len(result.answers) <= pressed.shown:
            return render.no_more()
        await self._send_page(message, pressed.question_id, result, pressed.shown)
        return None

    async def _drop_more(self, message: Message, markup: InlineKeyboardMarkup) -> None:
        """Take More off a message whose next answers are being shown (not twice)."""
        try:
            await message.edit_reply_markup(buttons.without_more(markup))
        except BadRequest as exc:  # e.g. "message is not modified" after a double press
            log.info("kept the keyboard of message %s: %s", message.message_id, exc)

    # -- inline mode ----------------------------------------------------------------

    async def inline(self, update: Update, context: Context) -> None:
        """@bot QUESTION in any chat: the top quotes, each ready to send with its source."""
        query = update.inline_query
        if query is None:
            return
        text = query.query.strip()
        user = query.from_user.id
        if self.allowed and user not in self.allowed:
            button = InlineQueryResultsButton(
                "Sorry, I only answer for some people", start_parameter="help"
            )
            await query.answer([], button=button, cache_time=0, is_personal=True)
            return
        if not text or self.inline_limiter.check(user) is not Verdict.ALLOW:
            await query.answer([], cache_time=0, is_personal=True)
            return
        try:
            found = ask_response(await self.service.ask(text, INLINE_ANSWERS)).answers
        except (InputError, NotReadyError, TryLaterError):
            found = []
        results = [
            InlineQueryResultArticle(
                id=str(n),
                title=render.inline_title(answer),
                description=render.inline_description(answer),
                input_message_content=InputTextMessageContent(
                    render.inline_text(answer),
                    parse_mode=ParseMode.HTML,
                    link_preview_options=NO_PREVIEW,
                ),
            )
            for n, answer in enumerate(found, start=1)
        ]
        await query.answer(results, cache_time=60)

    # -- errors ---------------------------------------------------------------------

    async def error(self, update: object, context: Context) -> None:
        """Log what failed, without the token; tell the user; the bot keeps running."""
        if context.error is None:
            return
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("update %s failed: %s", update_id, describe(context.error, self.token))
        if not isinstance(update, Update):
            return
        message = update.effective_message
        if update.callback_query is None and update.inline_query is None and message is not None:
            with contextlib.suppress(TelegramError):  # e.g. the network that failed is still down
                await self._reply(message, render.failed())

    # -- helpers ----------------------------------------------------------------------

    async def _admit(self, message: Message) -> bool:
        """The rate limit, then the allowlist; a refusal is said once, politely."""
        chat_id = message.chat_id
        verdict = self.limiter.check(chat_id)
        if verdict is Verdict.DROP:
            return False
        if verdict is Verdict.NOTIFY:
            await self._reply(message, render.slow_down())
            return False
        if self.allowed and chat_id not in self.allowed:
            await self._reply(message, render.refused(chat_id))
            return False
        return True

    async def _reply(
        self, message: Message, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> Message:
        """Send HTML to the message's chat; in a group, attached to the message."""
        return await message.reply_html(
            text,
            do_quote=message.chat.type != ChatType.PRIVATE,
            allow_sending_without_reply=True,
            reply_markup=markup,
            link_preview_options=NO_PREVIEW,
        )

    async def _typing(self, message: Message) -> None:
        """Show "typing…"; a failure here is not worth failing the answer for."""
        try:
            await message.reply_chat_action(ChatAction.TYPING)
        except TelegramError as exc:
            log.info("no typing action in chat %s: %s", message.chat_id, exc)


def addressed(message: Message, username: str | None, bot_id: int) -> str | None:
    """The question if a group message is meant for the bot, else None.

    It is when it mentions @username (the mention is taken out of the question) or
    replies to one of the bot's messages.
    """
    text = message.text or ""
    if username:
        mention = re.compile(rf"(?<![\w@])@{re.escape(username)}\b", re.IGNORECASE)
        if mention.search(text):
            return " ".join(mention.sub(" ", text).split())
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        return text
    return None
