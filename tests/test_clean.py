"""Cleaning scraped pages: site chrome goes, the article's own sentences stay verbatim."""

from __future__ import annotations

import re
from functools import cache

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.corpus.clean import PARAGRAPH_SEPARATOR, Line, clean, fold, review
from tests.conftest import SEEDS

SEED_NAMES = sorted(path.name for path in SEEDS.glob("*.txt"))
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")


@cache
def _metadata() -> dict[str, dict[str, str | None]]:
    loaded = yaml.safe_load((SEEDS / "metadata.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _raw(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


def _title_author(name: str) -> tuple[str | None, str | None]:
    meta = _metadata()[name]
    return meta.get("title"), meta.get("author")


@cache
def _cleaned(name: str) -> str:
    title, author = _title_author(name)
    return clean(_raw(name), title=title, author=author)


def _seed_review(name: str) -> list[Line]:
    title, author = _title_author(name)
    return review(_raw(name), title=title, author=author)


def _paras(text: str) -> list[str]:
    return text.split(PARAGRAPH_SEPARATOR) if text else []


def _seed(prefix: str) -> str:
    (name,) = (n for n in SEED_NAMES if n.startswith(prefix))
    return name


def _reasons_of(lines: list[Line], text: str) -> list[str | None]:
    return [line.reason for line in lines if line.text == text]


# Ordinary article paragraphs, to put around the case under test.
FILLER = [
    "Military delegations from Russia and Ukraine met in Istanbul on Wednesday for a new round "
    "of talks on grain exports.",
    "Turkish officials said the two sides had agreed on joint checks of the ships leaving "
    "Ukrainian ports.",
    "Farmers in the south of the country reported a record wheat harvest this summer despite "
    "the fighting.",
    "The United Nations said the corridor could open within days if both sides kept to the deal.",
    "Shipping insurers said they were waiting for written guarantees before covering the route.",
]


# --- the seeds -------------------------------------------------------------------------------


def test_the_five_seeds_are_there() -> None:
    assert len(SEED_NAMES) == 5
    assert set(SEED_NAMES) == set(_metadata())


# Strings of site chrome, by seed: none of them may be left anywhere in the cleaned text.
CHROME: dict[str, list[str]] = {
    "000": [
        "Russian, Ukrainian Presidents Propose Talks in Minsk",  # the title
        "is a national security and intelligence reporter",
        "Twitter: @ak_mack",
        "More from Foreign Policy",
        "At Long Last, the Foreign Service Gets the Netflix Treatment",
        "Keri Russell gets Drexel furniture but no Senate confirmation hearing.",
        "How Macron Is Blocking EU Strategy on Russia and China",
        "As a strategic consensus emerges in Europe, France is in the way.",
        "What the Bush-Obama China Memos Reveal",
        "Newly declassified documents contain important lessons",
        "Russia’s Boom Business Goes Bust",
        "arms exports have fallen to levels not seen",
        "Join the Conversation",
        "Join the conversation",
        "Commenting on this and other recent articles",
        "Already a subscriber?",
        "Subscribe",
        "subscribe",
        "View Comments",
        "Not your account?",
        "comment guidelines",
    ],
    "001": [
        "Russia And Ukraine Begin Negotiations",
        "LOADINGERROR",
        "LOADING",
        "Officials from Ukraine and Russia attend peace talks in Belarus on Monday.",
        "via Getty",
        "Handout",
        "Liza Hearon",
        "contributed to this report",
        "Popular in the Community",
        "What's Hot",
    ],
    "002": [
        "Ukraine rules out a return to Minsk peace talks as Putin tightens his grip on Belarus",
        "is a Nonresident Fellow",
        "Further reading",
        "views expressed",
        "The Eurasia Center’s mission",
        "Follow us on social media",
        "support our work",
        "Image:",
        "REUTERS/Vasily Fedosenko",
        "pictured in Minsk during February 2015 negotiations",
    ],
    "003": [
        "Putin Ready to Send Negotiation Team for Ukraine Talks",
        "February 25, 2022",
        "kremlin.ru",
        "Related article",
        "Ukraine Soldiers Battle Russian Troops in Capital",
        "Original url:",
        "https://",
        "themoscowtimes.com",
        "](#)",
        "[said]",
        "[told]",
    ],
    "004": [
        "date 2022-03-03",
        "Skip to main content",
        "36 mins ago",
        "Dave Lawler",
        "Ukrainian and Russian officials meet for second round of peace talks",
        "Photo:",
        "via Getty",
        "The Ukrainain (L) and Russian delegations meet",
        "Go deeper",
        "•",
    ],
}

# Short chrome lines that could occur inside prose: no kept paragraph may be just this.
CHROME_LINES: dict[str, list[str]] = {
    "000": ["Subscribe Subscribe", ".Subscribe Subscribe"],
    "001": ["Close", "LOADINGERROR LOADING"],
    "002": ["Further reading"],
    "003": ["February 25, 2022", "kremlin.ru"],
    "004": ["Dave Lawler", "Go deeper", "36 mins ago - World"],
}


@pytest.mark.parametrize("prefix", sorted(CHROME))
def test_seed_chrome_is_gone(prefix: str) -> None:
    name = _seed(prefix)
    cleaned = _cleaned(name)
    assert cleaned
    for chrome in CHROME[prefix]:
        assert chrome in _raw(name) or chrome.lower() in _raw(name).lower(), chrome
        assert chrome not in cleaned, f"{name}: chrome {chrome!r} survived cleaning"
    for line in CHROME_LINES[prefix]:
        assert line not in _paras(cleaned), f"{name}: chrome line {line!r} survived"


# Real sentences of each article: they must come through character for character.
SENTENCES: dict[str, list[str]] = {
    "000": [
        "But early indicators suggest that Moscow still seeks the full surrender of the "
        "Ukrainian government.",
        "Putin’s press secretary, Dmitry Peskov, said he considered “demilitarization and "
        "denazification” of Ukraine to be an “inseparable” component of the country’s "
        "neutrality.",
        "as a puppet of both the West and neo-Nazis—claims for which there is no evidence.",
        "“This is not just Russia’s invasion of Ukraine. This is the beginning of the war in "
        "Europe,” he said.",
        "In recent weeks, Russia amassed what U.S. officials estimate are 30,000 troops in "
        "Belarus, which appear to have remained in the country following joint military "
        "exercises.",
        "Early on Thursday, as Russia’s invasion got underway, the Ukrainian border service "
        "reported coming under attack from Russian forces, supported by Belarusian troops.",
    ],
    "001": [
        "Officials from Ukraine started negotiations with their Russian counterparts on Monday "
        "to try to halt Russia’s punishing invasion of their country.",
        "The talks began just after 1 p.m. Ukraine time, CNN reported.",
        "“Unfortunately, the Russian side is still extremely biased regarding the destructive "
        "processes it launched,” Mykhailo Podolyak, an adviser to Zelenskyy, tweeted after the "
        "discussions ended Monday.",
        "“President [Alexander] Lukashenko sincerely hopes that, during today’s talks, it will be "
        "possible to find solutions to all the questions of this crisis.",
        "renounce its non-nuclear status ― hinting that it could host Russian nuclear weapons.",
        "The U.S. and its allies have hit Russia with unprecedented sanctions",
        "Other prominent figures, including Israeli Prime Minister Naftali Bennett and Russian "
        "oligarch Roman Abramovich, are also reportedly involved in trying to forge a deal "
        "between Moscow and Kyiv.",
    ],
    "002": [
        "“We don’t know where the peace talks could be relocated. This is the subject of "
        "discussion,” Ukraine’s Deputy Prime Minister for Reintegration of the Temporarily "
        "Occupied Territories, Oleksiy Reznikov, told Reuters.",
        "Face-to-face talks have not taken place in Minsk since early 2020",
        "the ambiguous “Union State” agreement between post-Soviet Belarus and Russia.",
        "Once complete, Russia’s “soft annexation” of Belarus threatens to transform the "
        "security situation for Ukraine and deepen the military encirclement of the country.",
        "This process is already at an advanced stage. Western leaders can no longer afford to "
        "ignore it.",
    ],
    "003": [
        "President Vladimir Putin is ready to send a delegation to Minsk for talks with Ukraine, "
        "the Kremlin said Friday as its military encircled Kyiv on the second day of Russia's "
        "invasion of Ukraine.",
        "Ukraine's \"neutrality\" — a demand of Putin's — in his latest attempt",
        "China's foreign ministry also said that Putin told Chinese leader Xi Jinping by phone "
        'that "Russia is ready for high-level talks with Ukraine."',
        "Belarus is currently hosting thousands of Russian troops on its territory after joint "
        "military exercises ended on Feb. 20.",
        "“This, in fact, is an integral component of [Ukraine’s] neutral status,” Peskov told "
        "reporters.",
        "Donetsk and Luhansk foreign ministers arrived in Moscow earlier Friday to formally "
        "establish diplomatic relations.",
    ],
    "004": [
        "Russian and Ukrainian delegations convened near the Ukraine-Belarus border for a second "
        "round of peace talks on Thursday",
        '"It is not that I want to talk with Putin. I think I have to talk with Putin.',
        "Between the lines: Richard Haass, president of the Council on Foreign Relations, tells "
        "Axios that Putin's demands indicate that he is not currently serious about diplomacy.",
        "That will only change if Putin comes under sufficient pressure at home — due to "
        "battlefield casualties and economic losses — that he feels continuing the war is more "
        "perilous for him than ending it, Haass says.",
        "Rep. Adam Smith (D-WA) is among those arguing that the U.S. should set out the "
        "circumstances under which sanctions would be lifted in order to provide Putin with an "
        "off-ramp.",
        "The path to either outcome would likely be long and incredibly destructive. But at "
        "present, no other outcome looks particularly likely.",
    ],
}

# Where each article's own text begins and ends: nothing before or after may be chrome.
FIRST_AND_LAST: dict[str, tuple[str, str]] = {
    "000": ("But early indicators suggest Moscow seeks", "supported by Belarusian troops."),
    "001": ("As officials from the two countries met in Belarus", "between Moscow and Kyiv."),
    "002": ("Ukraine announced this week", "Western leaders can no longer afford to ignore it."),
    "003": ("President Vladimir Putin is ready", "to formally establish diplomatic relations."),
    "004": (
        "Russian and Ukrainian delegations convened",
        "no other outcome looks particularly likely.",
    ),
}


@pytest.mark.parametrize("prefix", sorted(SENTENCES))
def test_seed_sentences_are_kept_verbatim(prefix: str) -> None:
    name = _seed(prefix)
    cleaned = _cleaned(name)
    for sentence in SENTENCES[prefix]:
        assert sentence in cleaned, f"{name}: lost or altered: {sentence!r}"
    first, last = FIRST_AND_LAST[prefix]
    assert cleaned.startswith(first)
    assert cleaned.endswith(last)


@pytest.mark.parametrize("name", SEED_NAMES)
def test_each_kept_seed_paragraph_is_a_whole_line_of_the_raw_file(name: str) -> None:
    raw = _raw(name)
    unlinked = _LINK.sub(r"\1", raw)  # Markdown links undone, as in seed 003
    lines = [line.strip() for line in unlinked.splitlines()]
    paragraphs = _paras(_cleaned(name))
    assert paragraphs
    position = 0
    for paragraph in paragraphs:
        assert paragraph == paragraph.strip() and "\n" not in paragraph
        # The whole raw line, or the raw line less a list bullet in front of it.
        found = [
            i
            for i, line in enumerate(lines)
            if i >= position and line.endswith(paragraph) and line[: -len(paragraph)] in ("", "• ")
        ]
        assert found, f"{name}: not a line of the raw file: {paragraph!r}"
        position = found[0] + 1
        if paragraph not in raw:  # only link markup may differ from the raw text
            assert paragraph in unlinked and "](" not in paragraph


def test_markdown_links_in_seed_003_are_undone() -> None:
    name = _seed("003")
    raw, cleaned = _raw(name), _cleaned(name)
    assert "the Kremlin [said](#) Friday" in raw
    assert "the Kremlin said Friday" in cleaned
    assert "Putin [told](#) Chinese leader" in raw
    assert "Putin told Chinese leader" in cleaned
    # Square brackets that are the article's own (an editor's insertion) stay.
    assert "[Ukraine’s]" in cleaned
    assert "[Alexander]" in _cleaned(_seed("001"))


def test_seed_000_repeated_opening_paragraph_is_kept_once() -> None:
    name = _seed("000")
    opening = (
        "As Russian troops entered the outskirts of the Ukrainian capital of Kyiv on Friday, "
        "Russian officials indicated that Moscow was willing to send a delegation to Belarus for "
        "talks with their Ukrainian counterparts."
    )
    assert _raw(name).count(opening) == 2
    assert _paras(_cleaned(name)).count(opening) == 1
    assert _reasons_of(_seed_review(name), opening) == [None, "repeat"]


def test_seed_001_caption_printed_twice_and_its_credit_are_dropped() -> None:
    lines = _seed_review(_seed("001"))
    caption = "Officials from Ukraine and Russia attend peace talks in Belarus on Monday."
    assert _reasons_of(lines, caption) == ["caption", "caption"]
    credit = "Foreign Ministry of Belarus / Handout/Anadolu Agency via Getty Images"
    assert _reasons_of(lines, credit) == ["photo credit"]


def test_review_gives_reasons_for_seed_chrome() -> None:
    title_000 = _metadata()[_seed("000")]["title"]
    assert title_000 is not None
    lines_000 = _seed_review(_seed("000"))
    assert _reasons_of(lines_000, title_000) == ["title"]
    assert _reasons_of(lines_000, "More from Foreign Policy") == ["footer heading"]
    bio = "Amy Mackinnon is a national security and intelligence reporter at Foreign Policy."
    assert [line.reason for line in lines_000 if line.text.startswith(bio)] == ["sign-off"]
    assert {line.reason for line in lines_000 if line.text == "View Comments"} == {"prompt"}

    lines_003 = _seed_review(_seed("003"))
    url = [line for line in lines_003 if line.text.startswith("<https://")]
    assert [line.reason for line in url] == ["url"]

    lines_004 = _seed_review(_seed("004"))
    credit = [line for line in lines_004 if "Photo: Foreign Ministry of Belarus" in line.text]
    assert [line.reason for line in credit] == ["photo credit"]

    lines_002 = _seed_review(_seed("002"))
    image = [line for line in lines_002 if line.text.startswith("Image:")]
    assert [line.reason for line in image] == ["photo credit"]


def test_review_and_clean_agree() -> None:
    for name in SEED_NAMES:
        lines = _seed_review(name)
        assert all(isinstance(line.reason, str) and line.reason for line in lines if not line.kept)
        assert PARAGRAPH_SEPARATOR.join(line.text for line in lines if line.kept) == _cleaned(name)


# --- other outlets ---------------------------------------------------------------------------


def _check_page(
    page: str,
    article: list[str],
    chrome: list[str],
    *,
    title: str | None = None,
    either: tuple[str, ...] = (),
) -> list[Line]:
    """The article's paragraphs survive in order, the chrome goes, nothing else is kept."""
    for paragraph in article:
        assert paragraph in page
    lines = review(page, title=title)
    kept = _paras(clean(page, title=title))
    article_kept = [paragraph for paragraph in kept if paragraph not in either]
    assert article_kept == article, {line.text[:60]: line.reason for line in lines}
    for text in chrome:
        assert text in page
        assert not any(text in paragraph for paragraph in kept), f"chrome kept: {text!r}"
    return lines


WIRE_TITLE = "Ukraine and Russia to resume grain talks in Istanbul, officials say"
WIRE_ARTICLE = [
    "KYIV, July 12 (Reuters) - Ukraine and Russia will resume talks on unblocking grain "
    "exports from Black Sea ports in Istanbul on Wednesday, Ukrainian and Turkish officials "
    "said on Tuesday.",
    "The talks, brokered by Turkey and the United Nations, are the first direct contact "
    "between the two sides' militaries since March, when negotiations on a wider ceasefire "
    "stalled.",
    '"We are ready to guarantee the safety of ships leaving our ports," Ukraine\'s foreign '
    'minister, Dmytro Kuleba, told reporters in Kyiv. "The question is whether Russia is ready '
    'to stop shelling them."',
    "Share prices of grain traders rose on the news, with Archer-Daniels-Midland gaining 3% "
    "in early trading in New York.",
    "A Reuters/Ipsos poll published on Tuesday found that most Americans favour keeping "
    "sanctions on Russia in place until the war ends.",
    "Millions of tonnes of wheat and corn have been stuck in Ukrainian silos since Russia "
    "invaded on Feb. 24, driving up food prices across Africa and the Middle East.",
]
WIRE_PAGE = f"""{WIRE_TITLE}

By Pavel Polityuk and Jonathan Spicer

4 min read

{WIRE_ARTICLE[0]}

Advertisement

{WIRE_ARTICLE[1]}

Sign up for our newsletter to get the latest news delivered to your inbox.

{WIRE_ARTICLE[2]}

Read more:
Grain prices hit record as war chokes exports
Turkey offers to escort ships through the Black Sea
EU foreign ministers back new sanctions package

{WIRE_ARTICLE[3]}

A cargo ship waits to be loaded with grain at the port of Odesa, Ukraine, June 22, 2022.
REUTERS/Stringer

{WIRE_ARTICLE[4]}

{WIRE_ARTICLE[5]}

(Reporting by Pavel Polityuk in Kyiv and Jonathan Spicer in Istanbul; Editing by Alex Richardson)

Our Standards: The Thomson Reuters Trust Principles.

Share this article

Most Read
Oil jumps as supply fears mount after the talks collapse.
Stocks slide on rate worries as investors seek safety in bonds.

© 2024 Reuters. All rights reserved.
"""
WIRE_CHROME = [
    "By Pavel Polityuk",
    "4 min read",
    "Advertisement",
    "Sign up for our newsletter",
    "Read more:",
    "Grain prices hit record as war chokes exports",
    "Turkey offers to escort ships",
    "A cargo ship waits to be loaded",
    "REUTERS/Stringer",
    "(Reporting by",
    "Editing by Alex Richardson",
    "Our Standards",
    "Share this article",
    "Most Read",
    "Oil jumps as supply fears mount",
    "Stocks slide on rate worries",
    "© 2024",
    "All rights reserved",
]


def test_wire_service_page() -> None:
    lines = _check_page(WIRE_PAGE, WIRE_ARTICLE, WIRE_CHROME, title=WIRE_TITLE)
    reasons = {line.text: line.reason for line in lines}
    assert reasons[WIRE_TITLE] == "title"
    assert reasons["REUTERS/Stringer"] == "photo credit"
    caption = (
        "A cargo ship waits to be loaded with grain at the port of Odesa, Ukraine, June 22, 2022."
    )
    assert reasons[caption] == "caption"
    assert reasons["Oil jumps as supply fears mount after the talks collapse."] == "after footer"
    credit = [text for text in reasons if text.startswith("(Reporting by")]
    assert [reasons[text] for text in credit] == ["sign-off"]
    assert reasons["Our Standards: The Thomson Reuters Trust Principles."] == "after footer"


GUARDIAN_TITLE = "Talks between Russia and Ukraine end without deal on ceasefire"
GUARDIAN_STANDFIRST = (
    "Kyiv says Moscow 'not ready' for compromise as fighting continues in the east"
)
GUARDIAN_ARTICLE = [
    "Talks between the Russian and Ukrainian foreign ministers in Turkey have ended without "
    "progress on a ceasefire, with Kyiv accusing Moscow of refusing to discuss even a limited "
    "pause in the fighting.",
    "Dmytro Kuleba said after the meeting in Antalya that his Russian counterpart, Sergei "
    'Lavrov, had come to talk but not to decide. "I had an impression that he came to talk '
    'about nothing," he said.',
    "Lavrov, speaking separately, repeated the Kremlin's demands that Ukraine drop its ambition "
    "to join Nato and accept the loss of Crimea.",
    "The meeting was the highest-level contact between the two governments since Russia "
    "invaded on 24 February, and the first outside Belarus, where three rounds of talks "
    "between lower-level delegations have produced little.",
    "Turkey's foreign minister, Mevlüt Çavuşoğlu, who hosted the talks, said both sides had "
    "agreed to keep talking, but gave no date for another meeting.",
]
GUARDIAN_PAGE = f"""{GUARDIAN_TITLE}

{GUARDIAN_STANDFIRST}

Shaun Walker in Kyiv
Thu 10 Mar 2022 14.31 GMT

{GUARDIAN_ARTICLE[0]}

{GUARDIAN_ARTICLE[1]}

Sign up to First Edition, our free daily newsletter, every weekday morning at 7am.

{GUARDIAN_ARTICLE[2]}

The Ukrainian foreign minister, Dmytro Kuleba, speaks to the media after the talks.
Photograph: Jane Doe/AP

{GUARDIAN_ARTICLE[3]}

Related: Russia-Ukraine war: what we know on day 15 of the invasion

{GUARDIAN_ARTICLE[4]}

Explore more on these topics
Ukraine
Russia
Europe
news

Share
Reuse this content

Most viewed
Zelenskyy says Ukraine will never give up the Donbas region.
Inflation in Britain hits a new forty-year high, figures show.
"""
GUARDIAN_CHROME = [
    "Shaun Walker in Kyiv",
    "Thu 10 Mar 2022",
    "Related:",
    "what we know on day 15",
    "Sign up to First Edition",
    "speaks to the media after the talks",
    "Photograph: Jane Doe/AP",
    "Explore more on these topics",
    "Reuse this content",
    "Most viewed",
    "will never give up the Donbas",
    "Inflation in Britain",
]


def test_newspaper_page() -> None:
    lines = _check_page(
        GUARDIAN_PAGE,
        GUARDIAN_ARTICLE,
        GUARDIAN_CHROME,
        title=GUARDIAN_TITLE,
        either=(GUARDIAN_STANDFIRST,),  # a dek: article text or chrome, both will do
    )
    reasons = {line.text: line.reason for line in lines}
    assert reasons["Photograph: Jane Doe/AP"] == "photo credit"
    caption = "The Ukrainian foreign minister, Dmytro Kuleba, speaks to the media after the talks."
    assert reasons[caption] == "caption"
    # An inline link in the back half is dropped but does not end the article.
    related = "Related: Russia-Ukraine war: what we know on day 15 of the invasion"
    assert reasons[related] == "link"


# Single line breaks only, as a page copied out of a browser often is (like seed 000).
AP_TITLE = "Russian strikes hit power plants across Ukraine"
AP_ARTICLE = [
    "KYIV, Ukraine (AP) — Russian forces fired missiles at power plants across Ukraine "
    "overnight, knocking out electricity in several regions, officials said Tuesday.",
    "The strikes came hours after Ukrainian President Volodymyr Zelenskyy met U.S. Secretary "
    "of State Antony Blinken in Kyiv.",
    '"They are trying to break us with cold and darkness," Zelenskyy said.',
    "Ukrainian officials said more than 40 missiles had been fired, most of which were shot "
    "down by air defenses over Kyiv, Lviv and Kharkiv.",
    "Netflix now has more than 230 million subscribers worldwide, and its service in Ukraine "
    "has kept running through the blackouts, the company said.",
    "Thousands of men lined up in Lviv to sign up for the territorial defense forces, "
    "officials said.",
    "Power was restored to most of the capital by the evening, the city's mayor said.",
]
AP_PAGE = "\n".join(
    [
        AP_TITLE,
        "By YURAS KARMANAU and HANNA ARHIROVA",
        "Share this article",
        AP_ARTICLE[0],
        "Advertisement",
        AP_ARTICLE[1],
        AP_ARTICLE[2],
        "Firefighters work at the site of a Russian strike in Kyiv, Ukraine, on Oct. 10, 2022.",
        "(AP Photo/Efrem Lukatsky)",
        AP_ARTICLE[3],
        "Follow us on Twitter for the latest news from Ukraine.",
        AP_ARTICLE[4],
        AP_ARTICLE[5],
        AP_ARTICLE[6],
        "___",
        "Associated Press writers Jill Lawless in London and Susie Blann in Kyiv contributed "
        "to this report.",
        "Copyright 2024 The Associated Press. All rights reserved.",
        "Most Read",
        "Ukraine says it shot down most of the drones launched overnight.",
    ]
)
AP_CHROME = [
    "YURAS KARMANAU",
    "Advertisement",
    "Firefighters work at the site",
    "(AP Photo/Efrem Lukatsky)",
    "Follow us on Twitter",
    "Share this article",
    "___",
    "contributed to this report",
    "All rights reserved",
    "Most Read",
    "shot down most of the drones",
]


def test_agency_page_with_single_line_breaks() -> None:
    lines = _check_page(AP_PAGE, AP_ARTICLE, AP_CHROME, title=AP_TITLE)
    reasons = {line.text: line.reason for line in lines}
    assert reasons["(AP Photo/Efrem Lukatsky)"] == "photo credit"
    # Only the caption above the credit goes, not the short paragraphs above it.
    assert reasons[AP_ARTICLE[2]] is None
    assert (
        reasons[
            "Firefighters work at the site of a Russian strike in Kyiv, Ukraine, on Oct. 10, 2022."
        ]
        == "caption"
    )


def test_a_credit_with_its_caption_on_the_same_line_takes_nothing_above_it() -> None:
    short = "Delegates arrived in Istanbul on Wednesday morning."
    credit = "Delegates shake hands before the talks. Photo: Jane Doe/AFP"
    page = "\n".join([FILLER[0], short, credit, FILLER[1]])
    lines = review(page)
    assert _reasons_of(lines, credit) == ["photo credit"]
    assert _reasons_of(lines, short) == [None]
    assert _paras(clean(page)) == [FILLER[0], short, FILLER[1]]


# --- rules that must not fire on ordinary prose -----------------------------------------------

PROSE = [
    "Share prices fell sharply on Monday after the announcement.",
    "Oleksiy Reznikov told Reuters the talks could move.",
    "KYIV, Ukraine (AP) — Russian forces shelled the city overnight, officials said.",
    "Netflix raised its subscription prices for the third time this year.",
    "Netflix now has more than 230 million subscribers, the company said on Tuesday.",
    "Netflix said its subscribers would now pay more for the basic plan.",
    "The embassy closed its doors to visitors on Friday.",
    "Richard Haass, president of the Council on Foreign Relations, said talks were stalled.",
    "Related talks in Geneva ended on Tuesday without any agreement, diplomats said.",
    "Comments by the minister drew sharp criticism from opposition lawmakers.",
    "Most read the statement as a rejection of the Turkish proposal.",
    "A Reuters/Ipsos poll found that most Americans support the sanctions.",
    "The AP photo of the burning theatre in Mariupol was seen around the world.",
    "Getty Images said its photographers had left the city on Sunday.",
    "Thousands of volunteers queued to sign up for the territorial defence forces.",
    "Reporting by the state broadcaster was heavily censored, the monitoring group said.",
    "The views expressed in the memo were solely those of one official, the ministry said.",
    "Follow-up talks are expected in Istanbul next week, a Turkish official said.",
]


def _page(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


@pytest.mark.parametrize("where", ["front", "back"])
@pytest.mark.parametrize("prose", PROSE)
def test_prose_with_chrome_like_words_is_kept(prose: str, where: str) -> None:
    paragraphs = [prose, *FILLER] if where == "front" else [*FILLER[:-1], prose, FILLER[-1]]
    lines = review(_page(paragraphs))
    assert _reasons_of(lines, prose) == [None]
    # Nor does it end the article: everything after it is still there.
    assert _paras(clean(_page(paragraphs))) == paragraphs


def test_long_paragraph_about_an_authors_views_in_the_front_half_is_kept() -> None:
    views = (
        "The views of the author of the leaked memo, a senior diplomat who served in Moscow for "
        "a decade, were not shared by the foreign ministry, which said on Tuesday that the views "
        "expressed in the memo were solely those of one official and did not reflect government "
        "policy. Officials in Kyiv said the memo had been written before the invasion, that it "
        "was now out of date and that the talks in Istanbul would go on as planned next week."
    )
    paragraphs = [FILLER[0], views, *FILLER[1:]]
    assert _paras(clean(_page(paragraphs))) == paragraphs


def test_a_sign_off_in_the_front_half_does_not_end_the_article() -> None:
    credit = "Jane Doe contributed to this report."
    paragraphs = [FILLER[0], credit, *FILLER[1:]]
    lines = review(_page(paragraphs))
    assert _reasons_of(lines, credit) == ["sign-off"]
    assert _paras(clean(_page(paragraphs))) == [FILLER[0], *FILLER[1:]]


def test_a_sign_off_in_the_back_half_ends_the_article() -> None:
    credit = "Jane Doe contributed to this report."
    after = "Readers also liked these stories about the war and its aftermath."
    paragraphs = [*FILLER, credit, after]
    lines = review(_page(paragraphs))
    assert _reasons_of(lines, credit) == ["sign-off"]
    assert _reasons_of(lines, after) == ["after footer"]
    assert _paras(clean(_page(paragraphs))) == FILLER


def test_author_bio_is_recognised_by_the_author_name() -> None:
    bio = "Maria Kovalenko has covered Ukraine since 2014 and is based in Kyiv."
    paragraphs = [*FILLER, bio]
    assert _reasons_of(review(_page(paragraphs), author="Maria Kovalenko"), bio) == [None]
    bio = "Maria Kovalenko is based in Kyiv and has covered Ukraine since 2014."
    paragraphs = [*FILLER, bio]
    assert _reasons_of(review(_page(paragraphs), author="Maria Kovalenko"), bio) == ["sign-off"]
    assert _reasons_of(review(_page(paragraphs)), bio) == [None]


# --- repeats and reasons ---------------------------------------------------------------------


def test_repeats_are_kept_once_whatever_their_quote_marks_and_spacing() -> None:
    quote = "“The talks will resume on Monday,” the spokesman said."
    again = '"The talks  will resume on Monday," the spokesman said.'
    assert fold(quote) == fold(again)
    paragraphs = [quote, FILLER[0], again, FILLER[1], quote]
    lines = review(_page(paragraphs))
    assert [line.reason for line in lines] == [None, None, "repeat", None, "repeat"]
    assert _paras(clean(_page(paragraphs))) == [quote, FILLER[0], FILLER[1]]


def test_a_paragraph_dropped_as_chrome_does_not_hide_a_later_kept_one() -> None:
    # The first copy is a caption (above a credit); the article's own copy later stays.
    caption = "Delegates shake hands before the talks in Istanbul on Wednesday."
    page = f"{FILLER[0]}\n\n{caption}\nPhoto: Jane Doe/AFP\n\n{FILLER[1]}\n\n{caption}"
    lines = review(page)
    assert _reasons_of(lines, caption) == ["caption", None]


@pytest.mark.parametrize(
    "credit",
    [
        "(Reporting by Pavel Polityuk in Kyiv; Editing by Alex Richardson)",
        "Reporting by Łukasz Kowalski in Warsaw; editing by Jane Doe.",
        "Additional reporting by Jane Doe in London.",
        "Written by Jane Doe; edited by John Smith.",
        "The views expressed here are those of the author and do not necessarily reflect ours.",
    ],
)
def test_credit_lines_and_disclaimers_end_the_article(credit: str) -> None:
    after = "Other stories you may like about the war are waiting for you below."
    lines = review(_page([*FILLER, credit, after]))
    assert _reasons_of(lines, credit) == ["sign-off"]
    assert _reasons_of(lines, after) == ["after footer"]


def test_review_reasons_on_a_small_page() -> None:
    page = "\n".join(
        [
            "Grain talks resume",
            "Officials met in Istanbul on Wednesday to discuss the grain corridor again.",
            "https://example.com/world/grain-talks",
            "Image: Delegates arrive for the talks in Istanbul",
            "Subscribe now to read every story, at no cost for the first month.",
        ]
    )
    reasons = [line.reason for line in review(page, title="Grain Talks Resume")]
    assert reasons == ["title", None, "url", "photo credit", "prompt"]


# --- properties ------------------------------------------------------------------------------

_VOCAB = [
    "talks", "officials", "said", "on", "Monday", "the", "Russian", "Ukrainian", "delegation",
    "in", "Minsk", "Kyiv", "were", "ready", "to", "meet", "again", "after", "a", "ceasefire",
    "U.S.", "Feb.", "20", "1,000", "“neutral", "status”", "—", "people’s", "café", "Київ",
    "more", "from", "share", "read", "related", "comments", "photo", "image", "by", "is",
    "reporter", "at", "news", "you", "subscribe", "now", "follow", "us", "Getty", "Images",
]  # fmt: skip
# Rarer pieces of chrome, so that credits, captions, sign-offs and footers turn up too.
_CHROME_WORDS = ["Photo:", "via Getty", "REUTERS/Stringer", "contributed to this report"]
_WORDS = st.sampled_from(_VOCAB * 8 + _CHROME_WORDS)
_ENDINGS = ["", ".", ".", ".", "?", "!", ":", ".”", "…"]


@st.composite
def _lines(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from([w for w in [*_VOCAB, "More from"] if w[0].isalpha()]))
    rest = draw(st.lists(_WORDS, max_size=30))
    ending = draw(st.sampled_from(_ENDINGS))
    capital = draw(st.booleans())
    head = first[0].upper() + first[1:] if capital else first
    return " ".join([head, *rest]) + ending


@st.composite
def _documents(draw: st.DrawFn) -> str:
    lines = draw(st.lists(_lines(), min_size=1, max_size=14))
    doc = lines[0]
    for line in lines[1:]:
        # Repeat an earlier line now and then, with other spacing or quote marks.
        if draw(st.integers(0, 5)) == 0:
            line = draw(st.sampled_from(lines)).replace("“", '"')
        doc += draw(st.sampled_from(["\n", "\n\n", "\n \n", "\n\n\n"])) + line
    return doc


def _runs(raw: str) -> list[tuple[int, int, str]]:
    """(first, last + 1, text) of every run of consecutive non-blank lines, joined by spaces."""
    lines = [line.strip() for line in raw.split("\n")]
    out: list[tuple[int, int, str]] = []
    for i, line in enumerate(lines):
        if not line:
            continue
        joined = line
        out.append((i, i + 1, joined))
        for j in range(i + 1, len(lines)):
            if not lines[j]:
                break
            joined = f"{joined} {lines[j]}"
            out.append((i, j + 1, joined))
    return out


_TITLES = st.one_of(st.none(), st.sampled_from(["Talks in Minsk", "Officials said talks."]))


@settings(max_examples=150, deadline=None)
@given(raw=_documents(), title=_TITLES)
def test_kept_paragraphs_are_input_lines_in_order(raw: str, title: str | None) -> None:
    runs = _runs(raw)
    position = 0
    for paragraph in _paras(clean(raw, title=title)):
        ends = [end for start, end, text in runs if text == paragraph and start >= position]
        assert ends, f"not a line (or wrapped run of lines) of the input: {paragraph!r}"
        position = min(ends)


@settings(max_examples=150, deadline=None)
@given(raw=_documents(), title=_TITLES)
def test_kept_paragraphs_are_distinct_and_not_empty(raw: str, title: str | None) -> None:
    cleaned = clean(raw, title=title)
    paragraphs = _paras(cleaned)
    assert all(p.strip() == p and p for p in paragraphs)
    assert "\n\n\n" not in cleaned and not cleaned.startswith("\n")
    keys = [fold(p) for p in paragraphs]
    assert len(keys) == len(set(keys))
    if title is not None:
        assert fold(title) not in keys


@settings(max_examples=150, deadline=None)
@given(raw=_documents(), title=_TITLES)
def test_cleaning_is_idempotent(raw: str, title: str | None) -> None:
    once = clean(raw, title=title)
    assert clean(once, title=title) == once


@settings(max_examples=100, deadline=None)
@given(raw=_documents())
def test_review_accounts_for_every_line(raw: str) -> None:
    lines = review(raw)
    words_in = "".join(raw.split())
    words_out = "".join("".join(line.text.split()) for line in lines)
    assert words_in == words_out  # nothing vanishes without a reason
    assert [line.block for line in lines] == sorted(line.block for line in lines)
