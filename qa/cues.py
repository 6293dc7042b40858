"""Answer-type cues: what kind of thing a question asks for, and which sentences hold one.

A question that asks when, how many, who, where or why expects a sentence holding a
time or a date, a number, a person's name or title, a place, or a cause. The sentence
that shares the question's words is often a neighbour that lacks it ("the negotiations began on the
day ..." beside "... began just after 1 p.m."), so a sentence that holds the kind of
thing asked for, and not merely the question's own words, earns a cue. Patterns only,
no model. Everything tied to one language is in its ``Rules``, which ``rules_for``
chooses: English is the only one so far.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from qa.errors import InputError

KINDS = ("time", "number", "person", "place", "reason")


@dataclass(frozen=True, slots=True)
class Rules:
    """One language's cues: how a question asks for each kind, and how a sentence holds it.

    A sentence pattern's group ``x``, when it has one, is the part that must not be a
    word of the question: a place the question already names is no answer to where.
    """

    language: str
    wh: re.Pattern[str]  # the question's wh-words, where its kind is read from
    joined: re.Pattern[str]  # what comes before a second wh-word that asks too
    asks: Mapping[str, re.Pattern[str]]  # matched at that wh-word
    holds: Mapping[str, tuple[re.Pattern[str], ...]]
    word: re.Pattern[str]
    ignored: frozenset[str]  # words too common to tell a match from the question
    calendar: frozenset[str]  # capitalised, but no name or place: "in March"


def rules_for(language: str = "en") -> Rules:
    """The cue rules of a language; another language is another ``Rules`` in ``_RULES``."""
    rules = _RULES.get(language)
    if rules is None:
        known = ", ".join(sorted(_RULES))
        raise InputError(f"no answer-type cues for language {language!r}; choose from {known}")
    return rules


def expected(question: str, rules: Rules) -> frozenset[str]:
    """The kinds of answer the question asks for; empty for why, how and plain what.

    Read at the first wh-word, and at any joined to it ("who met, and when"), not at
    one in a clause ("what did he say when ...").
    """
    kinds: set[str] = set()
    for n, found in enumerate(rules.wh.finditer(question)):
        if n and not rules.joined.search(question[: found.start()]):
            continue
        rest = question[found.start() :]
        kinds.update(kind for kind, pattern in rules.asks.items() if pattern.match(rest))
    return frozenset(kinds)


def cue_scores(question: str, sentences: Sequence[str], rules: Rules) -> list[float]:
    """1.0 for each sentence holding a kind the question asks for that it does not say."""
    kinds = expected(question, rules)
    if not kinds:
        return [0.0] * len(sentences)
    asked = _words(question, rules)
    return [
        1.0
        if any(
            any(m and not m & asked for m in _matches(text, kind, rules.language)) for kind in kinds
        )
        else 0.0
        for text in sentences
    ]


@lru_cache(maxsize=1 << 16)
def _matches(text: str, kind: str, language: str) -> tuple[frozenset[str], ...]:
    """The words of each match of ``kind`` in the sentence (cached: sentences recur)."""
    rules = _RULES[language]
    found = []
    for pattern in rules.holds[kind]:
        for match in pattern.finditer(text):
            named = match.groupdict().get("x")
            words = _words(named if named is not None else match.group(0), rules)
            found.append(words - rules.calendar if kind in _NAMED else words)
    return tuple(found)


def _words(text: str, rules: Rules) -> frozenset[str]:
    return frozenset(w for w in rules.word.findall(text.casefold()) if w not in rules.ignored)


_NAMED = ("person", "place")


def _any(*words: str) -> str:
    return "(?:" + "|".join(words) + ")"


_MONTHS = _any(
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
)  # fmt: skip
_WEEKDAYS = _any("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TIME_NOUNS = _any(
    "time", "day", "date", "year", "month", "hour", "week", "century", "decade", "season",
    "era", "period", "night", "morning", "evening", "afternoon",
)  # fmt: skip
_NUMBER_NOUNS = _any(
    "percentage", "percent", "proportion", "share", "fraction", "number", "amount", "size",
    "price", "cost", "rate", "population", "distance", "length", "height", "sum", "total",
    "figure", "speed", "temperature", "age", "weight", "value", "count",
)  # fmt: skip
_PERSON_NOUNS = _any(
    "title", "role", "position", "rank", "job", "name", "person", "people", "official", "leader",
    "minister", "president", "man", "woman", "men", "women", "author", "founder", "head",
    "player", "politician", "diplomat", "spokesman", "spokeswoman", "negotiator",
)  # fmt: skip
_PLACE_NOUNS = _any(
    "city", "cities", "country", "countries", "town", "village", "place", "location",
    "region", "state", "capital", "border", "venue", "site", "province", "continent", "area",
    "river", "island", "port", "airport", "building", "street", "district", "territory", "nation",
)  # fmt: skip
_TITLES = _any(
    "president", "vice president", "prime minister", "minister", "chancellor", "secretary",
    "ambassador", "governor", "mayor", "senator", "congressman", "congresswoman", "king",
    "queen", "prince", "princess", "emperor", "pope", "bishop", "general", "colonel",
    "admiral", "commander", "chief", "director", "chairman", "chairwoman", "chair",
    "spokesman", "spokeswoman", "spokesperson", "adviser", "advisor", "aide", "envoy",
    "leader", "head of", "founder", "ceo", "premier", "deputy", "lieutenant", "captain",
    "judge", "justice", "professor", "lawmaker", "negotiator", "delegate", "official",
    "representative", "foreign minister", "defense minister", "defence minister",
)  # fmt: skip
_NUMBER_WORDS = _any(
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    "hundreds?", "thousands?", "millions?", "billions?", "trillions?", "dozens?", "half",
    "a quarter", "percent", "per cent", "twice", "triple", "double",
)  # fmt: skip
_PREPOSITIONS = _any(
    "in", "at", "near", "from", "to", "into", "outside", "inside", "across", "toward",
    "towards", "between", "around", "through", "within", "via", "on the border of",
)  # fmt: skip
_WORD = r"(?:[A-Z][\w'’.-]*[a-z][\w'’-]*|[A-Z]{2,}\b)"


def _what(nouns: str) -> str:
    """ "What year", "what is the date", "which two cities", "what is X's title"."""
    return (
        r"(?:what|which)\s+(?:(?:is|was|are|were)\s+)?"
        r"(?:(?:the|his|her|its|their|\w+['’]s)\s+)?"
        r"(?:(?!(?:is|was|are|were|did|does|do|has|have|had|will|would|can|could)\b)\w+\s+)?"
        rf"{nouns}s?\b"
    )


_IGNORED = ("a", "an", "the", "of", "and", "or", "in", "on", "at", "to", "for", "by", "with",
            "from", "s", "de", "la", "van", "von", "al")  # fmt: skip
_I = re.IGNORECASE
_ENGLISH = Rules(
    language="en",
    wh=re.compile(r"\b(?:who|whom|whose|when|where|what|which|how|why)\b", _I),
    joined=re.compile(r"(?:,|\band|\bor)\s*$", _I),
    asks={
        "time": re.compile(
            rf"when\b|{_what(_TIME_NOUNS)}|how\s+long\s+ago\b",
            _I,
        ),
        "number": re.compile(
            r"how\s+(?:many|much|long|far|old|big|large|high|tall|deep|wide|often|fast|heavy)\b"
            rf"|{_what(_NUMBER_NOUNS)}",
            _I,
        ),
        "person": re.compile(rf"who(?:m|se)?\b|{_what(_PERSON_NOUNS)}", _I),
        "place": re.compile(rf"where\b|{_what(_PLACE_NOUNS)}", _I),
        "reason": re.compile(r"why\b|what\s+(?:is|was|were|are)\s+the\s+reasons?\b", _I),
    },
    holds={
        "time": (
            re.compile(r"\b\d{1,2}(?::\d\d)?\s?(?:[ap]\.m\.|[ap]m\b)|\b\d{1,2}:\d\d\b", _I),
            re.compile(r"\b(?:noon|midnight|o'clock|today|yesterday|tomorrow|tonight)\b", _I),
            re.compile(rf"\b{_WEEKDAYS}s?\b|\b{_MONTHS}\b"),
            re.compile(r"\b(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.\s?\d"),
            re.compile(r"\b(?:1[0-9]|20)\d\d(?:s|-\d\d-\d\d)?\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"),
            re.compile(
                r"\b(?:this|last|next|that|same|early|late)\s+(?:morning|afternoon|evening"
                r"|night|week|weekend|month|year|spring|summer|autumn|fall|winter)\b"
                r"|\b(?:\w+\s+)?(?:days?|weeks?|months?|years?|hours?|decades?)\s+(?:ago|later)\b"
                r"|\b\d+(?:st|nd|rd|th)\s+century\b",
                _I,
            ),
        ),
        "number": (
            # A year is a time, not a count: "How many fled?" is not answered by "in 2014".
            re.compile(
                r"(?<![\w,.])(?!(?:1[0-9]|20)\d\d(?:s\b|\b(?![,.]\d)))"
                r"[$€£¥]?\d[\d,.]*(?:\s?(?:%|percent|per cent|million|billion))?",
                _I,
            ),
            re.compile(rf"\b{_NUMBER_WORDS}\b", _I),
        ),
        "person": (
            # A name: capitalised words, the first of a sentence only with another after it.
            re.compile(rf"(?<=[a-z,;:(]\s)(?P<x>{_WORD}(?:\s+{_WORD}){{0,3}})"),
            re.compile(rf"^\W*{_WORD}\s+(?P<x>{_WORD}(?:\s+{_WORD}){{0,2}})"),
            re.compile(rf"\b{_TITLES}s?\b", _I),
            re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Sen|Gov|Rep|Gen|Col|Lt|Sgt|Capt)\.\s+(?P<x>[A-Z]\w+)"),
        ),
        "place": (
            re.compile(rf"\b{_PREPOSITIONS}\s+(?:the\s+)?(?P<x>{_WORD}(?:\s+{_WORD}){{0,2}})"),
            re.compile(rf"\b{_PLACE_NOUNS}s?\b", _I),
        ),
        # English's causal connectives, and "too ... to" (too weak to serve).
        "reason": (
            re.compile(
                r"\b(?:because|since|due to|owing to|thanks to|as a result|in order to|so that"
                r"|so as to|reasons?|caused?|led to|given that|amid|for fear|in protest|aimed at"
                r"|meant to|intended to|in response to|on the grounds)\b",
                _I,
            ),
            re.compile(r"\btoo\s+(?:\w+\s+){1,4}to\b", _I),
        ),
    },
    word=re.compile(r"\w+"),
    ignored=frozenset(_IGNORED),
    calendar=frozenset(re.findall(r"[a-z]+", f"{_MONTHS} {_WEEKDAYS}".lower())),
)
_RULES = {rules.language: rules for rules in (_ENGLISH,)}
