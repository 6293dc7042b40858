"""The bot's pure parts: HTML rendering, outlets that agree, buttons."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bots import buttons, render
from qa.schemas import SourceOut, answer_out, ask_response, source_out
from qa.types import Answer, Corroboration, Result, Source
from tests.fake_telegram import html_problems, plain_text, telegram_length

MOSCOW_TIMES = Source(
    "003",
    title="Putin Ready to Send Negotiation Team",
    outlet="The Moscow Times",
    published="2022-02-25",
    url="https://www.themoscowtimes.com/2022/02/25/putin-ready-a76595",
)
FOREIGN_POLICY = Source(
    "000", title="Talks in Minsk", outlet="Foreign Policy", published="2022-02-25"
)


def answer(quote: str, source: Source = FOREIGN_POLICY, start: int = 0) -> Answer:
    return Answer(quote, quote, 0.8, start, start + len(quote), source)


def rendered(result: Result, start: int = 0) -> list[str]:
    """The messages for a result, made as the bot makes them: through the one answer shape."""
    return render.answers(ask_response(result), start)


def outs(items: list[Source]) -> list[SourceOut]:
    return [source_out(s) for s in items]


def assert_valid(messages: list[str]) -> None:
    assert messages
    for message in messages:
        assert html_problems(message) == [], message


# -- answers ---------------------------------------------------------------------------


def test_answers_quote_in_blockquote_with_source_line_under_it() -> None:
    result = Result(
        "How many troops?",
        (
            answer("Russia amassed 30,000 troops in Belarus."),
            answer("Belarus hosts thousands of Russian troops.", MOSCOW_TIMES),
        ),
    )
    [message] = rendered(result)
    assert_valid([message])
    assert message.startswith("<blockquote>Russia amassed 30,000 troops in Belarus.</blockquote>\n")
    assert "<b>1.</b> Talks in Minsk, Foreign Policy, 2022-02-25" in message
    assert (
        '<b>2.</b> <a href="https://www.themoscowtimes.com/2022/02/25/putin-ready-a76595">'
        "Putin Ready to Send Negotiation Team</a>, The Moscow Times, 2022-02-25"
    ) in message


def test_answers_show_a_page_of_three_numbered_from_start() -> None:
    result = Result("q", tuple(answer(f"Quote number {n}.", start=n * 100) for n in range(1, 8)))
    [first] = rendered(result)
    assert first.count("<blockquote>") == render.PAGE == 3
    [second] = rendered(result, start=3)
    assert "Quote number 4." in second and "<b>4.</b>" in second and "<b>6.</b>" in second
    assert "Quote number 3." not in second


def test_everything_from_articles_is_escaped() -> None:
    source = Source("x", title='<b>Bold</b> & "quoted"', outlet="A&B <News>", published="2022")
    quote = "He said </blockquote><script>alert('x')</script> & left."
    [message] = rendered(Result("q", (answer(quote, source),)))
    assert_valid([message])
    assert "&lt;/blockquote&gt;&lt;script&gt;" in message
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; &quot;quoted&quot;" in message
    assert quote in plain_text(message)


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "ftp://example.com/x", "https://", "https://exa mple.com", "x" * 50],
)
def test_only_http_links_are_linked(url: str) -> None:
    source = Source("x", title="Title", outlet="Outlet", url=url)
    [message] = rendered(Result("q", (answer("A quote.", source),)))
    assert "<a " not in message
    assert "Title, Outlet" in message


def test_a_quote_too_long_for_one_message_is_cut_and_marked() -> None:
    quote = "Very long sentence & more. " * 400  # 10,800 characters, over 17,000 escaped
    [message] = rendered(Result("q", (answer(quote),)))
    assert_valid([message])
    shown = plain_text(message).split("\n")[0]
    assert shown.endswith("…") and quote.startswith(shown[:-1])


def test_answers_that_do_not_fit_together_are_split_into_messages() -> None:
    result = Result("q", tuple(answer(f"{n} " + "word " * 300, start=n) for n in range(3)))
    messages = rendered(result)
    assert len(messages) == 2  # three quotes of 1,500 characters do not fit in one
    assert_valid(messages)
    assert sum(m.count("<blockquote>") for m in messages) == 3


def test_emoji_count_twice_toward_the_limit() -> None:
    quote = "😀" * 3000  # 3,000 characters for Python, 6,000 for Telegram
    [message] = rendered(Result("q", (answer(quote),)))
    assert telegram_length(message) <= render.LIMIT
    assert_valid([message])


def corroborated(quote: str, *others: tuple[Source, str]) -> Answer:
    also = tuple(Corroboration(src, text, 0, len(text)) for src, text in others)
    return replace(answer(quote), also_reported_by=also)


def test_outlets_reporting_the_same_thing_are_noted() -> None:
    first = corroborated(
        "Russia amassed 30,000 troops in Belarus.",
        (MOSCOW_TIMES, "Belarus is hosting thousands of Russian troops."),
        (Source("x", outlet="the moscow times"), "Thousands of troops."),
        (Source("y", outlet="Axios"), "Troops are in Belarus."),
    )
    alone = answer("Ukraine will not hold peace talks in Minsk.", Source("002", outlet="Axios"))
    [message] = rendered(Result("How many Russian troops are in Belarus?", (first, alone)))
    blocks = message.split("\n\n")
    assert "<i>Also reported by The Moscow Times, Axios.</i>" in blocks[0]
    assert "Also reported" not in blocks[1]


def test_the_same_outlet_is_not_another_outlet() -> None:
    same = corroborated("A quote.", (Source("z", outlet="Foreign Policy"), "The same quote."))
    assert render.other_outlets(answer_out(same)) == ()


# -- other texts -----------------------------------------------------------------------


def test_nothing_found_repeats_the_question_escaped_and_suggests_sources() -> None:
    text = render.nothing_found('What is <b>this</b> & "that"</blockquote>?')
    assert_valid([text])
    assert "nothing about" in text and "/sources" in text
    assert "<blockquote>" not in text
    assert 'What is <b>this</b> & "that"</blockquote>?' in plain_text(text)


def test_help_names_articles_outlets_and_examples() -> None:
    sources = [FOREIGN_POLICY, MOSCOW_TIMES, Source("z", outlet="Axios & Co")]
    text = render.help_text(outs(sources), ["First <example>?", "Second?", "Third?"], "qa_bot")
    assert_valid([text])
    seen = plain_text(text)
    assert "3 news articles from Axios & Co, Foreign Policy, The Moscow Times" in seen
    assert "• First <example>?" in seen and "• Second?" in seen and "Third" not in seen
    assert "@qa_bot" in seen and "/ask" in seen and "/sources" in seen


def test_sources_list_every_article_and_split_long_lists() -> None:
    items = [
        Source(f"a{n}", title=f"Title {n} " + "long " * 40, outlet="Outlet", published="2022-03-03")
        for n in range(150)
    ]
    messages = render.sources(outs(items))
    assert len(messages) > 1
    assert_valid(messages)
    text = "\n".join(plain_text(m) for m in messages)
    assert text.startswith("I know 150 articles:")
    assert "Title 99 " in text and "Title 100 " not in text and "… and 50 more." in text


def test_sources_link_titles() -> None:
    [message] = render.sources(outs([MOSCOW_TIMES, FOREIGN_POLICY]))
    assert f'<a href="{MOSCOW_TIMES.url}">Putin Ready to Send Negotiation Team</a>' in message
    assert "• Talks in Minsk, Foreign Policy, 2022-02-25" in message


def test_inline_text_is_one_quote_with_its_source() -> None:
    text = render.inline_text(answer_out(answer("A <quote> & more.", MOSCOW_TIMES)))
    assert_valid([text])
    assert plain_text(text) == (
        "A <quote> & more.\n— Putin Ready to Send Negotiation Team, The Moscow Times, 2022-02-25"
    )


# -- properties ------------------------------------------------------------------------

texts = st.text(min_size=1, max_size=3000)
optional = st.none() | st.text(max_size=400)
urls = (
    st.none()
    | st.text(max_size=100)
    | st.from_regex(r"https?://[a-z]{1,20}\.[a-z]{2,3}/[^\s]{0,60}")
)
sources = st.builds(
    Source,
    article_id=st.text(min_size=1, max_size=50),
    title=optional,
    outlet=optional,
    author=optional,
    published=optional,
    url=urls,
)
answers = st.builds(
    Answer,
    quote=texts,
    passage=st.just(""),
    score=st.floats(0, 1),
    start=st.integers(0, 10_000),
    end=st.integers(0, 10_000),
    source=sources,
)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=500), st.lists(answers, min_size=1, max_size=8), st.integers(0, 8))
def test_any_answers_render_to_valid_html_within_the_limit(
    question: str, found: list[Answer], start: int
) -> None:
    result = Result(question, tuple(found))
    messages = rendered(result, start=start)
    shown = found[start : start + render.PAGE]
    if not shown:
        assert messages == []
        return
    assert_valid(messages)
    text = "\n\n".join(plain_text(m) for m in messages)
    for item in shown:
        if len(render.escape(item.quote)) < 1500:  # short enough never to be cut
            assert item.quote in text
    quotes = [
        m
        for message in messages
        for m in re.findall(r"<blockquote>(.*?)</blockquote>", message, re.S)
    ]
    assert len(quotes) == len(shown)
    for item, html_quote in zip(shown, quotes, strict=True):
        seen = plain_text(html_quote)
        assert seen == item.quote or (seen.endswith("…") and item.quote.startswith(seen[:-1]))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=5000))
def test_any_question_echoed_back_is_escaped_and_round_trips(question: str) -> None:
    text = render.nothing_found(question)
    assert_valid([text])
    echoed = plain_text(text).split("“", 1)[1].rsplit("”", 1)[0]
    asked = question.strip()
    assert echoed == asked or (echoed.endswith("…") and asked.startswith(echoed[:-1]))


@settings(max_examples=50, deadline=None)
@given(st.lists(sources, max_size=30), st.lists(st.text(max_size=400), max_size=3), optional)
def test_any_articles_make_valid_help_and_source_lists(
    items: list[Source], examples: list[str], username: str | None
) -> None:
    assert_valid([render.help_text(outs(items), examples, username)])
    assert_valid(render.sources(outs(items)))


# -- buttons ---------------------------------------------------------------------------


def test_keyboard_votes_per_answer_and_more() -> None:
    markup = buttons.keyboard("AbCd-_12", 4, 3, more=True)
    rows = [[(b.text, b.callback_data) for b in row] for row in markup.inline_keyboard]
    assert rows == [
        [("👍 4", "v:AbCd-_12:4:+"), ("👍 5", "v:AbCd-_12:5:+"), ("👍 6", "v:AbCd-_12:6:+")],
        [("👎 4", "v:AbCd-_12:4:-"), ("👎 5", "v:AbCd-_12:5:-"), ("👎 6", "v:AbCd-_12:6:-")],
        [(buttons.MORE, "m:AbCd-_12:6")],
    ]
    assert len(buttons.without_more(markup).inline_keyboard) == 2
    assert len(buttons.keyboard("x", 1, 2, more=False).inline_keyboard) == 2


def test_button_data_is_parsed_back_and_fits_in_64_bytes() -> None:
    markup = buttons.keyboard("AbCd-_12", 48, 3, more=True)
    for row in markup.inline_keyboard:
        for button in row:
            assert isinstance(button.callback_data, str)
            assert len(button.callback_data.encode()) <= 64
    assert buttons.parse("m:AbCd-_12:3") == buttons.More("AbCd-_12", 3)
    assert buttons.parse("v:AbCd-_12:2:-") == buttons.VoteOn("AbCd-_12", 2, -1)
    assert buttons.parse("v:AbCd-_12:2:+") == buttons.VoteOn("AbCd-_12", 2, 1)


@pytest.mark.parametrize("data", [None, "", "m:x", "v:x:1", "v:x:1:*", "x:y:1", "m:a b:1"])
def test_foreign_button_data_is_not_understood(data: str | None) -> None:
    assert buttons.parse(data) is None
