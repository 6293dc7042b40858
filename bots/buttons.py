"""The inline keyboard under answers, and the short data its buttons carry.

callback_data holds at most 64 bytes, so a button carries only what it does and the
question's id in the feedback store: ``m:<id>:<shown>`` asks for the answers after the
first ``shown``, ``v:<id>:<number>:+`` (or ``-``) votes on answer ``number``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

MORE = "More ▸"
_MORE = re.compile(r"m:([\w-]{1,20}):(\d{1,3})")
_VOTE = re.compile(r"v:([\w-]{1,20}):(\d{1,3}):([+-])")


@dataclass(frozen=True, slots=True)
class More:
    question_id: str
    shown: int  # answers already shown; the next page starts after them


@dataclass(frozen=True, slots=True)
class VoteOn:
    question_id: str
    rank: int  # the answer's number, from 1
    vote: int  # +1 or -1


def keyboard(question_id: str, first: int, count: int, more: bool) -> InlineKeyboardMarkup:
    """👍 and 👎 for answers ``first`` to ``first + count - 1``, and More if there is more."""
    numbers = range(first, first + count)
    rows = [
        [InlineKeyboardButton(f"👍 {n}", callback_data=f"v:{question_id}:{n}:+") for n in numbers],
        [InlineKeyboardButton(f"👎 {n}", callback_data=f"v:{question_id}:{n}:-") for n in numbers],
    ]
    if more:
        shown = first + count - 1
        rows.append([InlineKeyboardButton(MORE, callback_data=f"m:{question_id}:{shown}")])
    return InlineKeyboardMarkup(rows)


def without_more(markup: InlineKeyboardMarkup) -> InlineKeyboardMarkup:
    """The same keyboard with More taken off, once its answers have been shown."""
    rows = [
        row
        for row in markup.inline_keyboard
        if not any(
            isinstance(b.callback_data, str) and _MORE.fullmatch(b.callback_data) for b in row
        )
    ]
    return InlineKeyboardMarkup(rows)


def parse(data: str | None) -> More | VoteOn | None:
    """What a pressed button asks for; None for data this bot did not make."""
    if data is None:
        return None
    if match := _MORE.fullmatch(data):
        return More(match[1], int(match[2]))
    if match := _VOTE.fullmatch(data):
        return VoteOn(match[1], int(match[2]), 1 if match[3] == "+" else -1)
    return None
