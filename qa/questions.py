"""What may be asked: a question and a number of answers within the configured limits.

Checked once where a question comes in (a CLI option, the bot's handler) and once in
the core's entry points (``Service.ask``, ``Retriever.ask_batch``); the search beneath
trusts what it is given.
"""

from __future__ import annotations

from qa.config import Settings
from qa.errors import InputError


def check_question(question: str, settings: Settings) -> None:
    """Raise InputError for a question that cannot be asked, saying how to fix it."""
    if not isinstance(question, str) or not question.strip():
        raise InputError("the question is empty: ask something about the articles")
    limit = settings.max_question_chars
    if len(question) > limit:
        raise InputError(
            f"the question is {len(question)} characters long; ask in {limit} characters or fewer"
        )


def check_k(k: int, settings: Settings) -> None:
    limit = settings.max_k
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
        raise InputError(f"k must be a whole number from 1 to {limit}, not {k!r}")
