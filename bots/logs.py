"""Keeping the bot token out of logs.

The token is part of every Bot API url: httpx logs those urls at INFO, and
python-telegram-bot logs its base url at DEBUG. httpx is kept at WARNING, and a filter
on the log handlers replaces the token wherever it still turns up, tracebacks included.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

REDACTED = "<TELEGRAM_BOT_TOKEN>"
CHATTY = ("httpx", "httpcore")  # they log request urls, and so the token


def redact(text: str, token: str) -> str:
    return text.replace(token, REDACTED) if token else text


def describe(exc: BaseException, token: str) -> str:
    """An exception with its traceback, as text without the token."""
    return redact("".join(traceback.format_exception(exc)).rstrip(), token)


class TokenFilter(logging.Filter):
    """Rewrites a record's message and traceback with the token replaced."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = redact(message, self.token), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.token)
        return True


@contextmanager
def token_kept_out(token: str) -> Iterator[None]:
    """While inside: httpx quiet below WARNING, and the token redacted by every handler of
    the root logger (where records end up unless a library keeps its own)."""
    levels = {name: logging.getLogger(name).level for name in CHATTY}
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(levels[name], logging.WARNING))
    token_filter = TokenFilter(token)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(token_filter)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(token_filter)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
