"""The chat page in a real headless Chromium against a real server, model and index."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from qa.api import create_app
from qa.api.web import PAGE
from qa.config import Settings
from qa.encoders import Encoder
from qa.feedback import FeedbackStore
from tests.browser import launched
from tests.serving import running

SECOND_ROUND = "Where did Russian and Ukrainian delegations meet for the second round?"
OFF_TOPIC = "What is the best recipe for banana bread?"
KEY = "web-test-key-1b9c"
EVIL = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as browser:
        yield browser


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feedback") / "votes.sqlite3"


@pytest.fixture(scope="module")
def url(seed_index_dir: Path, real_encoder: Encoder, db: Path) -> Iterator[str]:
    """A server over the shared seed index (it only reads it); votes go to ``db``."""
    app = create_app(
        Settings(index_dir=seed_index_dir, telegram_db=db), encoder=lambda: real_encoder
    )
    with running(app) as base:
        yield base


def open_page(browser: Browser, width: int = 1280, height: int = 860) -> Page:
    """A fresh page; script errors and CSP violations fail the test that caused them."""
    page = browser.new_page(viewport={"width": width, "height": height})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.problems = problems  # type: ignore[attr-defined]
    return page


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = open_page(browser)
    yield page
    problems = page.problems  # type: ignore[attr-defined]
    page.context.close()
    assert problems == []


def api_ask(base: str, question: str, **params: Any) -> dict[str, Any]:
    response = httpx.get(f"{base}/ask", params={"q": question, **params}, timeout=60)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ask(page: Page, question: str) -> None:
    """Type the question and press Enter, as a reader would; wait for the reply."""
    before = page.locator(".exchange").count()
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")
    exchange = page.locator(".exchange").nth(before)
    expect(exchange).not_to_have_attribute("aria-busy", "true")
    expect(exchange.locator(".answer, .abstained, .error").first).to_be_visible()


def test_a_seed_question_is_answered_with_its_quote_and_source(url: str, page: Page) -> None:
    expected = api_ask(url, SECOND_ROUND)["answers"][0]
    page.goto(url)
    ask(page, SECOND_ROUND)
    first = page.locator("article.answer").first
    expect(first.locator("blockquote")).to_have_text(expected["quote"])
    source = expected["source"]
    assert source["outlet"] in {"Axios", "HuffPost"}
    cite = first.locator("cite")
    expect(cite).to_contain_text(source["title"])
    expect(cite).to_contain_text(source["outlet"])
    if source["url"]:
        expect(cite.get_by_role("link", name=source["title"])).to_have_attribute(
            "href", source["url"]
        )
    expect(page.locator(".asked")).to_have_text("You asked: " + SECOND_ROUND)
    assert page.locator("#log").get_attribute("aria-live") == "polite"


def test_show_in_article_marks_exactly_the_quote(url: str, page: Page) -> None:
    answer = api_ask(url, SECOND_ROUND)["answers"][0]
    text = httpx.get(f"{url}/articles/{answer['source']['article_id']}").json()["text"]
    page.goto(url)
    ask(page, SECOND_ROUND)
    show = page.locator("article.answer").first.get_by_role("button", name="Show in article")
    show.click()
    mark = page.locator("#panel mark")
    expect(mark).to_have_text(answer["quote"])
    assert mark.text_content() == text[answer["start"] : answer["end"]]
    assert page.locator("#panel .article-text").text_content() == text
    expect(mark).to_be_in_viewport()
    check = page.locator("#panel-check")
    expect(check).to_contain_text(answer["source"]["outlet"])
    expect(check).to_contain_text(f"Characters {answer['start']}–{answer['end']}")
    page.keyboard.press("Escape")
    expect(page.locator("#panel")).to_be_hidden()
    expect(show).to_be_focused()


def test_other_outlets_show_their_own_quote_on_demand(url: str, page: Page) -> None:
    question = "How many Russian troops are in Belarus?"
    answers = api_ask(url, question)["answers"]
    answer = next(a for a in answers if a["also_reported_by"])
    other = answer["also_reported_by"][0]
    page.goto(url)
    ask(page, question)
    card = page.locator("article.answer").nth(answers.index(answer))
    expect(card.locator(".also-title")).to_have_text("Also reported by")
    details = card.locator(".also details").first
    expect(details.locator("blockquote")).to_be_hidden()
    details.locator("summary").click()
    expect(details.locator("blockquote")).to_have_text(other["quote"])
    details.get_by_role("button", name="Show in article").click()
    expect(page.locator("#panel mark")).to_have_text(other["quote"])


def test_filters_apply_to_the_next_question_and_show_in_the_url(url: str, page: Page) -> None:
    page.goto(f"{url}/?" + urlencode({"q": SECOND_ROUND, "outlet": "axios", "k": "3"}))
    expect(page.locator("article.answer").first).to_be_visible()
    for outlet in page.locator("article.answer .outlet").all_text_contents():
        assert outlet == "Axios"
    assert page.locator("article.answer").count() <= 3
    expect(page.locator("#filter-summary")).to_have_text("(Axios; 3 answers)")
    page.locator("#filters summary").click()
    expect(page.get_by_label("Axios")).to_be_checked()
    expect(page.get_by_label("HuffPost")).not_to_be_checked()
    # Now another outlet and a date range, chosen in the form.
    page.get_by_label("Axios").uncheck()
    page.get_by_label("HuffPost").check()
    page.get_by_label("from").fill("2022-02-01")
    page.get_by_label("to").fill("2022-03-31")
    page.get_by_label("how many").select_option("1")
    ask(page, SECOND_ROUND)
    latest = page.locator(".exchange").last
    expect(latest.locator("article.answer")).to_have_count(1)
    expect(latest.locator(".outlet")).to_have_text("HuffPost")
    query = parse_qs(urlsplit(page.url).query)
    assert query == {
        "q": [SECOND_ROUND],
        "outlet": ["HuffPost"],
        "published_from": ["2022-02-01"],
        "published_to": ["2022-03-31"],
        "k": ["1"],
    }


def test_an_off_topic_question_is_answered_plainly_with_no_quote(url: str, page: Page) -> None:
    assert api_ask(url, OFF_TOPIC)["abstained"]
    page.goto(url)
    ask(page, OFF_TOPIC)
    expect(page.locator(".abstained")).to_contain_text("do not answer this question")
    expect(page.locator("blockquote")).to_have_count(0)


def test_votes_reach_sqlite_with_question_article_and_offsets(
    url: str, page: Page, db: Path
) -> None:
    question = "How many Ukrainian civilians had been killed?"
    answers = api_ask(url, question)["answers"]
    page.goto(url)
    ask(page, question)
    second = page.locator("article.answer").nth(1)
    second.get_by_role("button", name="Helpful: answer 2", exact=True).click()
    expect(second.locator(".note")).to_have_text("Thanks: noted as helpful.")
    down = second.get_by_role("button", name="Not helpful: answer 2")
    down.click()  # a change of mind replaces the vote
    expect(down).to_have_attribute("aria-pressed", "true")
    [vote] = [v for v in FeedbackStore(db).votes() if v.question == question]
    expected = answers[1]
    assert (vote.channel, vote.vote, vote.rank) == ("web", -1, 2)
    assert (vote.article_id, vote.start, vote.end, vote.quote) == (
        expected["source"]["article_id"],
        expected["start"],
        expected["end"],
        expected["quote"],
    )


def test_the_sources_view_lists_every_article(url: str, page: Page) -> None:
    listed = httpx.get(f"{url}/articles").json()
    page.goto(url)
    page.get_by_role("button", name="Sources").click()
    rows = page.locator("#panel table.sources tbody tr")
    expect(rows).to_have_count(len(listed))
    for article in listed:
        expect(page.locator("#panel")).to_contain_text(article["title"])
    expect(page.locator("#panel-check")).to_contain_text(f"{len(listed)} articles")


def test_markup_in_a_question_shows_as_text_and_runs_nothing(url: str, page: Page) -> None:
    page.goto(url)
    ask(page, EVIL)
    expect(page.locator(".asked")).to_have_text("You asked: " + EVIL)
    assert page.locator("#log img, #log script").count() == 0
    assert page.evaluate("window.pwned") is None
    # Through a shared link as well.
    page.goto(f"{url}/?" + urlencode({"q": EVIL}))
    expect(page.locator(".asked")).to_have_text("You asked: " + EVIL)
    assert page.evaluate("window.pwned") is None


def test_markup_in_an_article_shows_as_text_and_runs_nothing(
    seed_copy: Path, real_encoder: Encoder, browser: Browser, tmp_path: Path
) -> None:
    # The 𝕏 before the quote counts as one character in Python and two in JavaScript.
    text = (
        "𝕏 A preface about nothing in particular.\n\n"
        f"The walrus council voted {EVIL} to ban fishing in the Barents Sea on Friday."
    )
    article = {
        "id": "evil",
        "title": "Walrus council <b onmouseover=window.pwned=3>votes</b>",
        "outlet": "<i>Evil</i> Wire",
        "author": EVIL,
        "published": "2022-05-01",
        "url": "javascript:window.pwned=4",
        "text": text,
    }
    settings = Settings(index_dir=seed_copy, api_key=KEY, telegram_db=tmp_path / "v.sqlite3")
    page = open_page(browser)
    with running(create_app(settings, encoder=lambda: real_encoder)) as base:
        added = httpx.post(
            f"{base}/articles", json=article, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert added.status_code == 201, added.text
        stored = httpx.get(f"{base}/articles/evil").json()
        assert "<script>" in stored["text"]
        question = "What did the walrus council vote to ban?"
        answer = api_ask(base, question, k=1)["answers"][0]
        assert answer["source"]["article_id"] == "evil"
        page.goto(base)
        ask(page, question)
        card = page.locator("article.answer").first
        expect(card.locator("blockquote")).to_have_text(answer["quote"])
        assert "<script>" in answer["quote"]
        expect(card.locator("cite")).to_contain_text(article["title"])
        expect(card.locator("cite .outlet")).to_have_text(article["outlet"])
        assert card.locator("cite a").count() == 0  # a javascript: url is not a link
        card.get_by_role("button", name="Show in article").click()
        expect(page.locator("#panel mark")).to_have_text(answer["quote"])
        assert (
            page.locator("#panel mark").text_content()
            == stored["text"][answer["start"] : answer["end"]]
        )
        page.get_by_role("button", name="Close the panel").click()
        page.get_by_role("button", name="Sources").click()
        expect(page.locator("#panel table")).to_contain_text(article["title"])
        assert page.locator("img, b, i, main script").count() == 0
        assert page.evaluate("window.pwned") is None
    assert page.problems == []  # type: ignore[attr-defined]
    page.context.close()


def test_a_stopped_server_gives_an_error_line_and_the_page_keeps_working(
    seed_index_dir: Path, real_encoder: Encoder, browser: Browser
) -> None:
    page = open_page(browser)
    app = create_app(Settings(index_dir=seed_index_dir), encoder=lambda: real_encoder)
    with running(app) as base:
        page.goto(base)
        ask(page, SECOND_ROUND)
        expect(page.locator("article.answer").first).to_be_visible()
    for _ in range(2):
        ask(page, SECOND_ROUND)
        expect(page.locator(".exchange").last.locator(".error")).to_contain_text(
            "Could not reach the qa server"
        )
    expect(page.locator(".exchange")).to_have_count(3)
    expect(page.get_by_role("button", name="Ask")).to_be_enabled()
    page.context.close()


def test_loading_and_over_long_questions_give_readable_lines(
    seed_index_dir: Path, real_encoder: Encoder, browser: Browser
) -> None:
    def slow_model() -> Encoder:
        time.sleep(2.0)
        return real_encoder

    page = open_page(browser)
    app = create_app(Settings(index_dir=seed_index_dir), encoder=slow_model)
    with running(app, wait_ready=False) as base:
        page.goto(base)
        ask(page, SECOND_ROUND)
        error = page.locator(".exchange").last.locator(".error")
        expect(error).to_contain_text("qa is not ready to answer yet (503)")
        expect(error).to_contain_text("Try again in a few seconds")
        expect(page.locator("#status")).to_contain_text("passages", timeout=30_000)
        ask(page, SECOND_ROUND)
        expect(page.locator(".exchange").last.locator("article.answer").first).to_be_visible()
        page.goto(f"{base}/?" + urlencode({"q": "why " * 600}))
        error = page.locator(".exchange").last.locator(".error")
        expect(error).to_contain_text("(422)")
        expect(error).to_contain_text("2000 characters or fewer")
        ask(page, SECOND_ROUND)
        expect(page.locator(".exchange").last.locator("article.answer").first).to_be_visible()
    assert page.problems == []  # type: ignore[attr-defined]
    page.context.close()


def test_a_phone_screen_shows_everything_without_sideways_scrolling(
    url: str, browser: Browser
) -> None:
    page = open_page(browser, width=360, height=740)
    page.goto(f"{url}/?" + urlencode({"q": SECOND_ROUND}))
    expect(page.locator("article.answer").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.locator("article.answer").first.get_by_role("button", name="Show in article").click()
    panel = page.locator("#panel")
    expect(panel.locator("mark")).to_be_in_viewport()
    box = panel.bounding_box()
    assert box is not None and box["width"] <= 360
    page.context.close()


def test_the_keyboard_reaches_the_question_answers_and_votes(url: str, page: Page) -> None:
    page.goto(url)
    expect(page.get_by_label("Your question")).to_be_focused()
    page.keyboard.type(SECOND_ROUND)
    page.keyboard.press("Enter")
    show = page.locator("article.answer").first.get_by_role("button", name="Show in article")
    expect(show).to_be_visible()
    show.focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Helpful: answer 1", exact=True)).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#panel-title")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    expect(page.get_by_label("Your question")).to_be_focused()


def test_the_page_is_small_and_forbids_inline_scripts(url: str) -> None:
    size = sum(path.stat().st_size for path in PAGE.rglob("*") if path.is_file())
    assert size < 60_000
    response = httpx.get(url + "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "default-src 'none'" in policy
    html = response.text
    assert "<script src=" in html and "<script>" not in html and " on" + "click=" not in html
    for asset in ("/static/app.js", "/static/app.css", "/static/icon.svg"):
        assert httpx.get(url + asset).status_code == 200
