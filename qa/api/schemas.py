"""Request and response bodies of the HTTP API, as they appear in /docs.

The answer and article shapes live in qa.schemas, shared with the CLI and the bot.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from qa.config import Settings
from qa.corpus.meta import ID, PUBLISHED

# The limits (the defaults of QA_MAX_QUESTION_CHARS and QA_MAX_K) are checked by qa with
# messages of its own; in the schema they only tell clients what will be accepted.
_DEFAULTS = Settings.model_fields
QUESTION: dict[str, Any] = {
    "minLength": 1,
    "maxLength": _DEFAULTS["max_question_chars"].default,
    "pattern": r"\S",
}
K: dict[str, Any] = {"minimum": 1, "maximum": _DEFAULTS["max_k"].default}
TEXT: dict[str, Any] = {"pattern": r"\S"}  # blank text is refused with a message of qa's


def _integral(value: object) -> object:
    """5.0 is the integer 5 in JSON (JSON Schema says so too); "5" and true are not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[StrictInt, BeforeValidator(_integral)]


def _iso_day(value: object) -> object:
    """Only YYYY-MM-DD, as the schema says: pydantic alone reads 0.0 as 1970-01-01."""
    if isinstance(value, dt.date) or (isinstance(value, str) and _DAY.fullmatch(value)):
        return value
    raise ValueError(f"{value!r} is not a date; write it as YYYY-MM-DD")


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Day = Annotated[dt.date, BeforeValidator(_iso_day)]


class AskRequest(BaseModel):
    """A question; the filters narrow which articles may answer it."""

    model_config = ConfigDict(extra="forbid")

    question: StrictStr = Field(description="Up to 2,000 characters.", json_schema_extra=QUESTION)
    k: WholeNumber | None = Field(
        None, description="Answers wanted, 1 to 50 (default 5).", json_schema_extra=K
    )
    outlet: StrictStr | list[StrictStr] | None = Field(
        None, description="Only articles from this outlet (or these outlets)."
    )
    published_from: Day | None = Field(None, description="Only articles from this day on.")
    published_to: Day | None = Field(None, description="Only articles up to this day.")


class ArticleIn(BaseModel):
    """An article sent as JSON; without an id, one is made from the title (or text)."""

    model_config = ConfigDict(extra="forbid")

    id: StrictStr | None = Field(None, json_schema_extra={"pattern": ID.pattern})
    title: StrictStr | None = None
    text: StrictStr = Field(json_schema_extra=TEXT)
    outlet: StrictStr | None = None
    author: StrictStr | None = None
    published: StrictStr | None = Field(
        None,
        description="YYYY-MM-DD, YYYY-MM or YYYY (a time of day after the date is dropped).",
        json_schema_extra={"pattern": PUBLISHED.pattern},
    )
    url: StrictStr | None = None


class UrlIn(BaseModel):
    """A page or an RSS/Atom feed to fetch: the page, or every entry's page, is added."""

    model_config = ConfigDict(extra="forbid")

    url: StrictStr = Field(
        description="An http(s) address on a public host (or a network in "
        "QA_FETCH_ALLOW_NETWORKS).",
        json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
    )


class SkippedOut(BaseModel):
    url: str = Field(description="The page as fetched.")
    article_id: str = Field(description="The article it already is.")
    reason: str


class WriteReport(BaseModel):
    added: list[str]
    updated: list[str]
    removed: list[str]
    skipped: list[SkippedOut] = Field(
        default_factory=list, description="Pages fetched but already indexed as they are."
    )
    articles: int
    passages: int
    warnings: list[str] = Field(
        default_factory=list, description="What could not be read, and why."
    )


class Health(BaseModel):
    status: str
    store: str | None = None  # QA_STORE: local, milvus
    model: str | None = None
    articles: int | None = None
    passages: int | None = None
    index_version: str | None = None
    built_at: str | None = None
    detail: str | None = None
    # `qa serve` with several processes: how many of them accept questions now.
    workers: int | None = None


class ErrorOut(BaseModel):
    detail: str


class FeedbackIn(BaseModel):
    """A vote from the web page on one answer it showed."""

    model_config = ConfigDict(extra="forbid")

    question_id: StrictStr = Field(
        description="The page's id for the question asked; a new vote on the same answer "
        "of it replaces the last.",
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
    )
    rank: StrictInt = Field(description="The answer's number as shown, from 1.", ge=1, le=1000)
    question: StrictStr
    article_id: StrictStr
    start: StrictInt = Field(ge=0)
    end: StrictInt = Field(ge=1)
    vote: Literal[-1, 1] = Field(description="1 for 👍, -1 for 👎.")


class FeedbackOut(BaseModel):
    question: str
    vote: int
    article_id: str
    start: int
    end: int
    quote: str | None
    rank: int
    channel: str
    question_id: str
    voted_at: str
