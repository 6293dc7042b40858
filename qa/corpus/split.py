"""Split cleaned text into sentences and overlapping passages, keeping character offsets.

syntok does the segmenting: it keeps "U.S.", "Feb. 20", "p.m." and quotes that end in
.\u201d together. It does split after a title such as "Rep." before a name, so those
splits are mended here: a title never ends a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from syntok import segmenter

from qa.types import Article, Chunks, Passage, Span

# Titles that stand before a name. "Sr." and "Jr." are left out: they can end a sentence.
_TITLE_BEFORE_NAME = re.compile(
    r"\b(?:Mr|Mrs|Ms|Mx|Dr|Prof|Rep|Reps|Sen|Sens|Gov|Govs|Gen|Lt|Col|Maj|Capt|Cmdr|Adm|Sgt"
    r"|Cpl|Pvt|Rev|Fr|Hon|Pres|Amb|Supt|Insp|Det|Atty|Brig|Cdr|Gens)\.$"
)
_PARAGRAPH = re.compile(r"[^\n]+(?:\n(?!\n)[^\n]+)*")


def paragraphs(text: str) -> Iterator[Span]:
    """Spans of the paragraphs (runs of text between blank lines)."""
    for match in _PARAGRAPH.finditer(text):
        start, end = match.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            yield Span(start, end)


def sentences(text: str, within: Span | None = None) -> list[Span]:
    """Sentence spans of ``text`` (or of the part ``within``), in order."""
    span = within or Span(0, len(text))
    piece = text[span.start : span.end]
    found: list[Span] = []
    for paragraph in segmenter.analyze(piece):
        mendable = False  # a title joins the name after it, never across paragraphs
        for sentence in paragraph:
            # syntok may close a sentence with an empty token after trailing space.
            tokens = [token for token in sentence if token.value]
            if not tokens:
                continue
            start = span.start + tokens[0].offset
            end = span.start + tokens[-1].offset + len(tokens[-1].value)
            previous = text[found[-1].start : found[-1].end] if mendable else ""
            if _TITLE_BEFORE_NAME.search(previous) and text[start : start + 1].isupper():
                found[-1] = Span(found[-1].start, end)
                continue
            found.append(Span(start, end))
            mendable = True
    return found


def passages(
    sents: list[Span], *, max_sentences: int, max_chars: int, first_index: int = 0
) -> list[Passage]:
    """Windows of up to ``max_sentences`` sentences that overlap by one sentence.

    ``sents`` are the sentences of one paragraph; ``first_index`` is the position of
    the first of them in the article's sentence list. A window only starts on the last
    sentence of the one before when it can go beyond it; else it would repeat it.
    """
    out: list[Passage] = []
    i = 0
    while i < len(sents):
        j = i + 1
        while (
            j < len(sents) and j - i < max_sentences and sents[j].end - sents[i].start <= max_chars
        ):
            j += 1
        out.append(Passage(sents[i].start, sents[j - 1].end, first_index + i, first_index + j - 1))
        if j >= len(sents):
            break
        last = j - 1  # start the next window on it if that window can reach past it
        can_reach = max_sentences > 1 and sents[j].end - sents[last].start <= max_chars
        i = last if last > i and can_reach else j
    return out


def chunk(article: Article, *, max_sentences: int, max_chars: int) -> Chunks:
    """Sentences and passages of an article, passages never crossing a paragraph."""
    all_sentences: list[Span] = []
    all_passages: list[Passage] = []
    for paragraph in paragraphs(article.text):
        sents = sentences(article.text, paragraph)
        all_passages += passages(
            sents, max_sentences=max_sentences, max_chars=max_chars, first_index=len(all_sentences)
        )
        all_sentences += sents
    return Chunks(article, tuple(all_sentences), tuple(all_passages))
