"""Where a speaker's quotation opens and closes, so that a quote never cuts one in two.

News prints a quotation of several sentences with the speaker named only at its end
(“We don't know where the talks could move. This is the subject of discussion,”
Reznikov told ...). A quote made of one of those sentences shows words without
their speaker, or the speaker without the words that answer; the sentences of one
quotation belong in one quote.

English's double quotes only (another language's marks would be another pair here).
Straight ones do not say which way they face: one at the start of the text or after a
space, a dash or an opening bracket opens, any other closes. Curly ones say.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

_MARK = re.compile(r"[“”\"]")
_OPENS_BEFORE = re.compile(r"(?:^|[\s(\[{—–-])$")


@lru_cache(maxsize=1 << 16)
def faces(text: str) -> tuple[bool, ...]:
    """The text's quotation marks in order, each True when it opens a quotation (cached:
    sentences recur in the passages of every question about them)."""
    return tuple(
        found.group() == "“"
        or (found.group() == '"' and _OPENS_BEFORE.search(text[: found.start()]) is not None)
        for found in _MARK.finditer(text)
    )


def whole(texts: Sequence[str], first: int, last: int, limit: int) -> tuple[int, int]:
    """(first, last) widened so that a quotation begun or ended inside is whole.

    A boundary between two sentences lies inside a quotation when the last mark before
    it opens one or the first mark after it closes one. Widens one sentence at a time
    while the quote stays within ``limit`` sentences; a longer quotation stays cut.
    """
    marks = [faces(t) for t in texts]
    while last - first + 1 < limit:
        if last + 1 < len(texts) and _inside(marks, last):
            last += 1
        elif first > 0 and _inside(marks, first - 1):
            first -= 1
        else:
            break
    return first, last


def _inside(marks: Sequence[tuple[bool, ...]], before: int) -> bool:
    """Whether the boundary after sentence ``before`` lies inside a quotation."""
    earlier = [m for sentence in marks[: before + 1] for m in sentence]
    later = [m for sentence in marks[before + 1 :] for m in sentence]
    return bool(earlier and earlier[-1]) or bool(later and not later[0])
