"""Sentences and passages: hard abbreviations stay whole, offsets slice back exactly."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.corpus.clean import clean
from qa.corpus.split import chunk, paragraphs, passages, sentences
from qa.types import Article, Chunks, Passage, Source, Span
from tests.conftest import SEEDS


def _texts(text: str, spans: Sequence[Span | Passage]) -> list[str]:
    return [text[span.start : span.end] for span in spans]


def _split(text: str) -> list[str]:
    return _texts(text, sentences(text))


def _article(text: str) -> Article:
    return Article(source=Source("test"), text=text)


def _chunk(text: str, *, max_sentences: int = 3, max_chars: int = 1000) -> Chunks:
    return chunk(_article(text), max_sentences=max_sentences, max_chars=max_chars)


def _no_space(text: str) -> str:
    return "".join(text.split())


# --- hard cases ------------------------------------------------------------------------------

HARD_CASES: list[list[str]] = [
    ["The U.S. and its allies have hit Russia with sanctions.", "Putin responded."],
    ["Joint military exercises ended on Feb. 20.", "Belarus is still hosting the troops."],
    ["The talks began just after 1 p.m. Ukraine time, CNN reported.", "Several officials came."],
    ["Rep. Adam Smith (D-WA) is among those arguing for an off-ramp.", "Others disagree."],
    ["Sen. Warren and Gov. Newsom spoke on Friday.", "They agreed on little."],
    ["Lt. Gen. Ben Hodges said the war would be long.", "He has been right so far."],
    ["It was Russia’s “soft annexation.”", "Western leaders can no longer afford to ignore it."],
    ['He called the vote "a disaster."', "Nobody in the room disagreed."],
    ["“What are you afraid of?” he asked.", "Nobody answered him."],
    ["Dr. Jane Doe and Mr. Smith met Prof. Brown in Kyiv.", "They talked for an hour."],
    ["Gen. Mark Milley spoke first.", "Adm. John Aquilino agreed with him."],
    ["The deal is worth $2.5 billion, or 3.5% of output.", "That is a lot."],
    ["Talks resume at 9 a.m. on Monday in St. Petersburg.", "No date was set for a summit."],
    ["The U.N. Security Council met on Oct. 10, 2022, in New York.", "Russia vetoed the text."],
]


@pytest.mark.parametrize("expected", HARD_CASES, ids=lambda case: case[0][:30])
def test_hard_cases_do_not_break_a_sentence(expected: list[str]) -> None:
    assert _split(" ".join(expected)) == expected


def test_single_hard_sentences_stay_whole() -> None:
    for sentence in [
        "Belarus is currently hosting thousands of Russian troops on its territory after joint "
        "military exercises ended on Feb. 20.",
        "Sen. Warren and Gov. Newsom and Lt. Gen. Ben Hodges met U.S. officials at 1 p.m. "
        "Ukraine time on Feb. 20 with Rep. Adam Smith (D-WA).",
        "Putin called it a “special military operation.”",
    ]:
        assert _split(sentence) == [sentence]


def test_a_title_never_joins_a_sentence_of_the_next_paragraph() -> None:
    text = "The parade was led by Lt. Gen.\n\nThe ceremony ended at noon."
    assert _split(text) == ["The parade was led by Lt. Gen.", "The ceremony ended at noon."]
    assert all("\n" not in sentence for sentence in _split(text))


def test_sentences_within_a_span_have_offsets_into_the_whole_text() -> None:
    text = "First paragraph here.\n\nRep. Adam Smith spoke. Then he left."
    second = list(paragraphs(text))[1]
    spans = sentences(text, second)
    assert _texts(text, spans) == ["Rep. Adam Smith spoke.", "Then he left."]
    assert spans[0].start == text.index("Rep.")


def test_sentence_spans_never_end_in_space() -> None:
    for text in ["The talks\n", "The talks \n", "Talks went on\n\nand on\n", "One. Two\n\n"]:
        for sentence in _split(text):
            assert sentence == sentence.strip(), repr(sentence)


def test_sentences_of_nothing() -> None:
    assert sentences("") == []
    assert sentences("   \n\n  ") == []
    assert list(paragraphs("\n \n\n")) == []


def test_paragraphs_are_runs_between_blank_lines() -> None:
    text = "  One line.\nAnother line of it.  \n\n\nSecond paragraph.\n"
    spans = list(paragraphs(text))
    assert _texts(text, spans) == ["One line.\nAnother line of it.", "Second paragraph."]


# --- the seeds, after real cleaning ----------------------------------------------------------


@cache
def _seed_text(prefix: str) -> str:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    meta = yaml.safe_load((SEEDS / "metadata.yaml").read_text(encoding="utf-8"))[path.name]
    raw = path.read_text(encoding="utf-8")
    return clean(raw, title=meta.get("title"), author=meta.get("author"))


SEED_SENTENCES: dict[str, list[str]] = {
    "000": [
        "In recent weeks, Russia amassed what U.S. officials estimate are 30,000 troops in "
        "Belarus, which appear to have remained in the country following joint military "
        "exercises.",
        "“This is not just Russia’s invasion of Ukraine.",
        "This is the beginning of the war in Europe,” he said.",
    ],
    "001": [
        "The talks began just after 1 p.m. Ukraine time, CNN reported.",
        "Several high-ranking Ukrainian officials, but not President Volodymyr Zelenskyy, "
        "attended the discussions held at a confidential location in Belarus.",
        "The U.S. and its allies have hit Russia with unprecedented sanctions in an effort to "
        "pressure the country into halting the invasion, and Russian President Vladimir Putin "
        "has responded by changing his country’s nuclear posture, triggering longstanding fears "
        "in the West.",
    ],
    "002": [
        "Once complete, Russia’s “soft annexation” of Belarus threatens to transform the "
        "security situation for Ukraine and deepen the military encirclement of the country.",
        "This process is already at an advanced stage.",
        "Western leaders can no longer afford to ignore it.",
    ],
    "003": [
        "Minsk was previously the site of negotiations for an eastern Ukraine ceasefire in 2014 "
        "and 2015.",
        "Belarus is currently hosting thousands of Russian troops on its territory after joint "
        "military exercises ended on Feb. 20.",
        "The Kremlin spokesman reiterated Putin’s stated goal of invading Ukraine to “help” "
        "eastern Ukraine’s pro-Moscow breakaway republics “including through the "
        "demilitarization and denazification of Ukraine.”",
    ],
    "004": [
        "Rep. Adam Smith (D-WA) is among those arguing that the U.S. should set out the "
        "circumstances under which sanctions would be lifted in order to provide Putin with an "
        "off-ramp.",
        'Putin stuck by his demands for the "demilitarization and neutrality of Ukraine," which '
        'he said would be accomplished "whatever happens," the Kremlin noted.',
        "Others take a harder line.",
        "Radek Sikorski, a Polish politician and chairman of the European Parliament's EU-USA "
        "delegation, told Axios the goal of Western sanctions should now be regime change in "
        "Moscow.",
    ],
}


@pytest.mark.parametrize("prefix", sorted(SEED_SENTENCES))
def test_seed_sentences_split_correctly_after_cleaning(prefix: str) -> None:
    text = _seed_text(prefix)
    chunks = _chunk(text)
    found = _texts(text, chunks.sentences)
    for sentence in SEED_SENTENCES[prefix]:
        assert sentence in found, f"{prefix}: not a whole sentence: {sentence!r}"
    _check_chunks(text, chunks, max_sentences=3, max_chars=1000)


def test_seed_chunks_with_tight_limits() -> None:
    for prefix in SEED_SENTENCES:
        text = _seed_text(prefix)
        for max_sentences, max_chars in [(1, 1000), (2, 200), (4, 120)]:
            chunks = _chunk(text, max_sentences=max_sentences, max_chars=max_chars)
            _check_chunks(text, chunks, max_sentences=max_sentences, max_chars=max_chars)


# --- passages --------------------------------------------------------------------------------


def _windows(found: list[Passage]) -> list[tuple[int, int]]:
    return [(p.first_sentence, p.last_sentence) for p in found]


FIVE = "One is here. Two is here. Six is here. Ten is here. Red is here."


@pytest.mark.parametrize(
    ("max_sentences", "expected"),
    [
        (1, [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]),
        (2, [(0, 1), (1, 2), (2, 3), (3, 4)]),
        (3, [(0, 2), (2, 4)]),
        (4, [(0, 3), (3, 4)]),
        (5, [(0, 4)]),
        (9, [(0, 4)]),
    ],
)
def test_passages_overlap_by_one_sentence(
    max_sentences: int, expected: list[tuple[int, int]]
) -> None:
    sents = sentences(FIVE)
    assert len(sents) == 5
    found = passages(sents, max_sentences=max_sentences, max_chars=1000)
    assert _windows(found) == expected
    for passage in found:
        assert passage.start == sents[passage.first_sentence].start
        assert passage.end == sents[passage.last_sentence].end


def test_passages_respect_max_chars() -> None:
    sents = sentences(FIVE)  # sentences of 12 characters, 13 apart
    assert _windows(passages(sents, max_sentences=9, max_chars=25)) == [
        (0, 1),
        (1, 2),
        (2, 3),
        (3, 4),
    ]
    assert _windows(passages(sents, max_sentences=9, max_chars=38)) == [(0, 2), (2, 4)]
    assert _windows(passages(sents, max_sentences=9, max_chars=11)) == [
        (0, 0),
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 4),
    ]


def test_a_sentence_longer_than_max_chars_is_a_passage_of_its_own() -> None:
    long = "This sentence goes on and on, " * 5 + "and then it ends."
    text = f"Short one. {long} Short two. Short three."
    sents = sentences(text)
    assert _texts(text, sents) == ["Short one.", long, "Short two.", "Short three."]
    found = passages(sents, max_sentences=3, max_chars=40)
    assert (1, 1) in _windows(found)
    assert all(p.end - p.start <= 40 for p in found if p.first_sentence != p.last_sentence)
    assert {i for p in found for i in range(p.first_sentence, p.last_sentence + 1)} == set(range(4))


def test_passages_first_index_and_empty_input() -> None:
    assert passages([], max_sentences=3, max_chars=100) == []
    sents = sentences(FIVE)
    found = passages(sents, max_sentences=3, max_chars=1000, first_index=7)
    assert _windows(found) == [(7, 9), (9, 11)]


def test_chunk_passages_never_cross_a_paragraph() -> None:
    text = "\n\n".join(
        [
            "A first paragraph. It has two sentences.",
            "A lone sentence in the middle.",
            "Rep. Adam Smith spoke. Sen. Warren replied. Gov. Newsom left. Lt. Gen. Hodges stayed.",
        ]
    )
    chunks = _chunk(text, max_sentences=3)
    assert _texts(text, chunks.passages) == [
        "A first paragraph. It has two sentences.",
        "A lone sentence in the middle.",
        "Rep. Adam Smith spoke. Sen. Warren replied. Gov. Newsom left.",
        "Gov. Newsom left. Lt. Gen. Hodges stayed.",
    ]
    assert _windows(list(chunks.passages)) == [(0, 1), (2, 2), (3, 5), (5, 6)]
    _check_chunks(text, chunks, max_sentences=3, max_chars=1000)


# --- the invariants, checked on every chunking -----------------------------------------------


def _check_sentences(text: str, paragraph: Span, spans: list[Span]) -> None:
    """Sentences slice back, stay in their paragraph, keep order, and lose nothing."""
    previous_end = paragraph.start
    for span in spans:
        piece = text[span.start : span.end]
        assert piece and piece == piece.strip()
        assert paragraph.start <= span.start < span.end <= paragraph.end
        assert span.start >= previous_end  # ordered, not overlapping
        assert text[previous_end : span.start].strip() == ""  # only space between them
        previous_end = span.end
    assert text[previous_end : paragraph.end].strip() == ""
    whole = _no_space(text[paragraph.start : paragraph.end])
    assert whole == "".join(_no_space(piece) for piece in _texts(text, spans))


def _check_chunks(text: str, chunks: Chunks, *, max_sentences: int, max_chars: int) -> None:
    sents = list(chunks.sentences)
    owner: list[int] = []  # the paragraph of each sentence
    for number, paragraph in enumerate(paragraphs(text)):
        spans = sentences(text, paragraph)
        _check_sentences(text, paragraph, spans)
        owner += [number] * len(spans)
    assert sents == [s for p in paragraphs(text) for s in sentences(text, p)]
    assert len(owner) == len(sents)

    found = list(chunks.passages)
    covered: set[int] = set()
    for k, passage in enumerate(found):
        first, last = passage.first_sentence, passage.last_sentence
        assert 0 <= first <= last < len(sents)
        assert (passage.start, passage.end) == (sents[first].start, sents[last].end)
        assert owner[first] == owner[last], "a passage crosses a paragraph"
        assert "\n\n" not in text[passage.start : passage.end]
        count = last - first + 1
        assert count <= max_sentences
        if count > 1:
            assert passage.end - passage.start <= max_chars
        # As long as the limits allow: the next sentence of the paragraph did not fit.
        if last + 1 < len(sents) and owner[last + 1] == owner[first] and count < max_sentences:
            assert sents[last + 1].end - passage.start > max_chars
        covered.update(range(first, last + 1))
        if k == 0:
            assert first == 0
            continue
        before = found[k - 1]
        if first == before.last_sentence:
            # Overlap by exactly one sentence, and only when the window goes beyond it.
            assert owner[first] == owner[before.first_sentence]
            assert before.first_sentence < before.last_sentence < last
        else:
            assert first == before.last_sentence + 1  # no gap
        can_extend = (
            before.first_sentence < before.last_sentence
            and before.last_sentence + 1 < len(sents)
            and owner[before.last_sentence + 1] == owner[before.last_sentence]
            and max_sentences > 1
            and sents[before.last_sentence + 1].end - sents[before.last_sentence].start <= max_chars
        )
        assert (first == before.last_sentence) == can_extend
    assert covered == set(range(len(sents)))


# --- properties ------------------------------------------------------------------------------

_OPENERS = [
    "The", "Officials", "Russia", "Ukraine", "President Putin", "Rep. Adam Smith (D-WA)",
    "Lt. Gen. Ben Hodges", "Sen. Warren and Gov. Newsom", "U.S. officials", "Dr. Jane Doe",
    "Zelenskyy’s office", "Київ", "Çavuşoğlu",
]  # fmt: skip
_WORDS = [
    "talks", "officials", "said", "the", "delegation", "met", "in", "Minsk", "and", "Kyiv",
    "troops", "were", "ready", "—", "–", "ceasefire", "on", "Friday", "people’s", "don't",
]  # fmt: skip
# Abbreviations inside a sentence, each followed by what follows it in real text.
_PHRASES = [
    "U.S. officials", "the U.S. and its allies", "on Feb. 20", "just after 1 p.m. Ukraine time",
    "Rep. Adam Smith (D-WA)", "Sen. Warren and Gov. Newsom", "Lt. Gen. Ben Hodges",
    "Dr. Jane Doe", "Mr. Zelenskyy", "at 9 a.m. on Monday", "No. 10", "Jan. 6",
    "St. Petersburg", "$2.5 billion", "3.5%", "1,000 troops", "café", "e.g. grain",
    "the U.N. Security Council", "Oct. 10, 2022", "Washington, D.C., and", "U.K. troops",
    "Prof. Brown", "Capt. Smith", "Mrs. May", "Gen. Milley", "Adm. Aquilino", "vs. Russia",
]  # fmt: skip
_LAST = ["talks", "it", "agreement", "Monday", "annexation", "status", "2022", "Київ"]
_QUOTES = {"": "", "“": "”", '"': '"'}


@st.composite
def _sentences(draw: st.DrawFn) -> str:
    """One sentence that a reader would not split, with abbreviations and quotes."""
    body = draw(st.lists(st.sampled_from(_WORDS + _PHRASES), max_size=10))
    words = [draw(st.sampled_from(_OPENERS)), *body]
    end = draw(st.sampled_from([".", "?", "!"]))
    opening = draw(st.sampled_from(sorted(_QUOTES)))
    if opening:
        quoted = draw(st.lists(st.sampled_from(_WORDS + _PHRASES), min_size=1, max_size=4))
        words.append(opening + " ".join(quoted))
    return " ".join([*words, draw(st.sampled_from(_LAST))]) + end + _QUOTES[opening]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.lists(_sentences(), min_size=1, max_size=4), min_size=1, max_size=3))
def test_generated_sentences_come_back_exactly(doc: list[list[str]]) -> None:
    text = "\n\n".join(" ".join(paragraph) for paragraph in doc)
    assert _split(text) == [sentence for paragraph in doc for sentence in paragraph]


# Looser text: any token may end a sentence, spaces and line breaks vary.
_TOKENS = [
    *_WORDS, *_PHRASES, "Gen.", "Rep.", "U.S.", "p.m.", "“soft", "annexation.”", '"quoted."',
    "(D-WA)", "…", "?", "!", "...", "emoji 😀", "x\u0301", "İstanbul", "ß", "10:30", "«", "»",
    "‘", "’", "'", ";", ":", ",", "12", "1.5", "http://example.com/a.b", "@user", "#tag",
]  # fmt: skip
_ENDS = ["", ".", ".", "?", "!", "…", ".”", '."', "?”", ")."]


@st.composite
def _loose_sentences(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=12))
    capital = draw(st.sampled_from([*_OPENERS, "lower", "12", "“Quote"]))
    return " ".join([capital, *tokens]) + draw(st.sampled_from(_ENDS))


@st.composite
def _loose_texts(draw: st.DrawFn) -> str:
    paras = []
    for _ in range(draw(st.integers(1, 4))):
        sents = draw(st.lists(_loose_sentences(), min_size=1, max_size=6))
        glue = draw(st.sampled_from([" ", "  ", "\n"]))
        paras.append(glue.join(sents))
    lead, tail = draw(st.sampled_from(["", " ", "\n"])), draw(st.sampled_from(["", "\n"]))
    return lead + "\n\n".join(paras) + tail


@settings(max_examples=120, deadline=None)
@given(_loose_texts())
def test_sentence_spans_slice_back_and_lose_nothing(text: str) -> None:
    found = list(paragraphs(text))
    assert found
    for paragraph in found:
        _check_sentences(text, paragraph, sentences(text, paragraph))
    # Splitting the whole text at once gives the same sentences, none across a paragraph.
    assert sentences(text) == [s for p in found for s in sentences(text, p)]


@settings(max_examples=120, deadline=None)
@given(
    text=_loose_texts(),
    max_sentences=st.integers(1, 5),
    max_chars=st.integers(1, 300),
)
def test_passages_hold_their_invariants(text: str, max_sentences: int, max_chars: int) -> None:
    chunks = _chunk(text, max_sentences=max_sentences, max_chars=max_chars)
    assert chunks.article.text == text
    _check_chunks(text, chunks, max_sentences=max_sentences, max_chars=max_chars)
