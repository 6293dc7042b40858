"""What the bot says, as Telegram HTML. Pure: text in, message texts out.

Everything that comes from an article or a user is escaped, so a title or question with
``<``, ``>``, ``&`` or quotes never breaks a message, and every message fits Telegram's
4,096 characters: answers are spread over several messages, and only a quote that alone
would not fit is cut (and marked with "…").
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from urllib.parse import urlsplit

from qa.schemas import AnswerOut, AskResponse, SourceOut

LIMIT = 4096  # Telegram's longest message, counted in UTF-16 code units
PAGE = 3  # answers per reply; "More" shows the next ones
# Bounds on escaped lengths, so that a source line leaves room for its quote whatever
# the article's metadata holds.
FIELD_MAX = 300  # a title, outlet or date
NAME_MAX = 100  # an outlet named in a note
URL_MAX = 1000  # a longer url is shown without a link
ALSO_MAX = 3  # outlets named in "also reported by"
ECHO_MAX = 200  # how much of a question (or problem) is repeated back
SOURCES_MAX = 100  # /sources lists at most this many articles
OUTLETS_MAX = 10  # /help names at most this many outlets
ELLIPSIS = "…"


def length(text: str) -> int:
    """Length as Telegram counts it: characters outside the BMP (emoji) count twice."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def fit(text: str, room: int) -> str:
    """``text`` escaped, and cut first (ending in "…") if its escaped form exceeds ``room``."""
    escaped = escape(text)
    if length(escaped) <= room:
        return escaped
    low, high = 0, len(text)  # find the longest prefix that fits with "…"
    while low < high:
        mid = (low + high + 1) // 2
        if length(escape(text[:mid]) + ELLIPSIS) <= room:
            low = mid
        else:
            high = mid - 1
    return escape(text[:low]) + ELLIPSIS


def safe_url(url: str | None) -> str | None:
    """The url if Telegram will accept it in a link: http(s), a host, no spaces."""
    if not url or length(escape(url)) > URL_MAX or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in {"http", "https"} and parts.netloc else None


def source_line(source: SourceOut) -> str:
    """Title (a link when there is a url), outlet, date."""
    title = fit(source.title or source.article_id, FIELD_MAX)
    url = safe_url(source.url)
    if url:
        title = f'<a href="{escape(url)}">{title}</a>'
    rest = [fit(value, FIELD_MAX) for value in (source.outlet, source.published) if value]
    return ", ".join([title, *rest])


def answer_block(answer: AnswerOut, label: str, also: Sequence[str] = ()) -> str:
    """One answer: the quote, then where it stands; cut only if it alone exceeds LIMIT.

    ``label`` is HTML that starts the source line, such as the answer's number.
    """
    tail = f"</blockquote>\n{label} {source_line(answer.source)}"
    if also:
        names = ", ".join(fit(name, NAME_MAX) for name in also[:ALSO_MAX])
        tail += f"\n<i>Also reported by {names}.</i>"
    room = LIMIT - length("<blockquote>" + tail)
    return f"<blockquote>{fit(answer.quote, room)}{tail}"


def answers(result: AskResponse, start: int = 0, count: int = PAGE) -> list[str]:
    """Answers ``start`` to ``start + count`` (numbered from 1) as message texts."""
    also = [other_outlets(a) for a in result.answers]
    blocks = [
        answer_block(result.answers[n], f"<b>{n + 1}.</b>", also[n])
        for n in range(start, min(start + count, len(result.answers)))
    ]
    return pack(blocks)


def other_outlets(answer: AnswerOut) -> tuple[str, ...]:
    """Outlets besides the answer's own that qa found saying the same (also_reported_by)."""
    own = (answer.source.outlet or "").casefold()
    names: dict[str, str] = {}
    for other in answer.also_reported_by:
        name = other.outlet
        if name and name.casefold() != own:
            names.setdefault(name.casefold(), name)
    return tuple(names.values())


def nothing_found(question: str) -> str:
    return (
        f"I found nothing about “{fit(question.strip(), ECHO_MAX)}” in my articles. "
        "/sources lists what they cover."
    )


def no_more() -> str:
    return "That was all I found about this in my articles."


def help_text(sources: Sequence[SourceOut], examples: Sequence[str], username: str | None) -> str:
    """What the bot knows and how to ask it."""
    outlets = sorted({s.outlet for s in sources if s.outlet}, key=str.casefold)
    named = ", ".join(fit(o, NAME_MAX) for o in outlets[:OUTLETS_MAX])
    if len(outlets) > OUTLETS_MAX:
        named += f" and {len(outlets) - OUTLETS_MAX} more"
    articles = f"{len(sources)} news article{'s' if len(sources) != 1 else ''}"
    lines = [
        f"I answer questions about <b>{articles}</b>"
        + (f" from {named}" if named else "")
        + " with quotes taken word for word from them, and where each stands. "
        "I write nothing myself.",
        "",
        "Ask a question, for example:",
        *(f"• {fit(example, FIELD_MAX)}" for example in examples[:2]),
        "",
        "/sources lists the articles.",
    ]
    if username:
        name = fit(username, NAME_MAX)
        lines.append(
            f"In a group, write @{name} and your question, reply to one of my messages, "
            f"or use /ask and your question. In any chat, type @{name} and a question "
            "to pick a quote to send."
        )
    return "\n".join(lines)


def unknown_command() -> str:
    return "I know /help, /sources and /ask. Anything else you write is a question."


def not_ready(problem: str | None) -> str:
    reason = fit(problem or "the articles are still loading", ECHO_MAX)
    return f"I cannot answer yet: {reason}. Please try again later."


def sources(items: Sequence[SourceOut]) -> list[str]:
    """The articles, one line each: title (linked), outlet, date."""
    if not items:
        return ["I have no articles yet."]
    lines = [f"I know {len(items)} article{'s' if len(items) != 1 else ''}:"]
    lines += [f"• {source_line(source)}" for source in items[:SOURCES_MAX]]
    if len(items) > SOURCES_MAX:
        lines.append(f"… and {len(items) - SOURCES_MAX} more.")
    return pack(lines, separator="\n")


def inline_text(answer: AnswerOut) -> str:
    """One answer as a message someone sends from inline mode."""
    return answer_block(answer, "—")


def inline_title(answer: AnswerOut) -> str:
    """Plain text for the inline result list: where the quote is from."""
    source = answer.source
    return _cut(source.outlet or source.title or source.article_id, NAME_MAX)


def inline_description(answer: AnswerOut) -> str:
    return _cut(answer.quote, ECHO_MAX)


def refused(chat_id: int) -> str:
    return (
        "Sorry, I only answer in the chats I was set up for. "
        f"(This chat's id is <code>{chat_id}</code>; the bot's operator can add it to "
        "QA_TELEGRAM_ALLOWED_CHATS.)"
    )


def slow_down() -> str:
    return (
        "You are asking faster than I can answer well. "
        "Please wait a minute, then ask again; I will skip questions until then."
    )


def bad_question(problem: str) -> str:
    return f"Sorry, I cannot answer that: {fit(problem, ECHO_MAX * 2)}."


def busy() -> str:
    return "Many people are asking right now. Please ask again in a few seconds."


def failed() -> str:
    return "Sorry, something went wrong on my side. Please try again in a moment."


def ask_how(username: str | None, example: str) -> str:
    mention = f"@{fit(username, NAME_MAX)} " if username else "/ask "
    return f"Ask me like this: {mention}{fit(example, FIELD_MAX)}"


def pack(blocks: Sequence[str], separator: str = "\n\n") -> list[str]:
    """Blocks (each within LIMIT) joined into as few messages as fit."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        candidate = f"{current}{separator}{block}" if current else block
        if length(candidate) <= LIMIT:
            current = candidate
            continue
        if current:
            messages.append(current)
        current = block
    if current:
        messages.append(current)
    return messages


def _cut(text: str, limit: int) -> str:
    """Plain text shortened to ``limit`` characters, ending in "…" if cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS
