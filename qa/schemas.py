"""The answer shape, declared once: the CLI's ``--json``, the HTTP API and the bot all
show these models, made from qa's internal records by the functions below, so that no
channel can drop or rename a field on its own. No FastAPI here: the CLI and the bot
import it too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from qa.types import Answer, Article, Result, Source

SCORE_DIGITS = 4  # more would only show the noise of float arithmetic


class SourceOut(BaseModel):
    """Where a quote stands: enough for a reader to find and check it."""

    article_id: str
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    published: str | None = Field(None, description="YYYY-MM-DD, YYYY-MM or YYYY.")
    url: str | None = None


class CorroborationOut(SourceOut):
    """Another article that says the same, with its own verbatim quote to check."""

    quote: str = Field(description="Verbatim: that article's text[start:end].")
    start: int
    end: int


class AnswerOut(BaseModel):
    quote: str = Field(description="Verbatim: the article's text[start:end].")
    passage: str = Field(description="The passage the quote was found in.")
    score: float
    start: int
    end: int
    source: SourceOut
    also_reported_by: list[CorroborationOut] = Field(
        default_factory=list, description="Other articles that say the same thing."
    )


class AskResponse(BaseModel):
    question: str
    answers: list[AnswerOut]
    abstained: bool = Field(description="True when nothing in the articles answers it.")


class ArticleOut(SourceOut):
    """An indexed article as listed: its source and the number of its passages."""

    passages: int


class ArticleText(ArticleOut):
    text: str = Field(description="The cleaned text every quote's offsets point into.")


def source_out(source: Source) -> SourceOut:
    return SourceOut.model_validate(source, from_attributes=True)


def _with_source(source: Source, **extra: Any) -> dict[str, Any]:
    """A source's fields, flat, with more beside them (the shape of the subclasses)."""
    return {**source_out(source).model_dump(), **extra}


def answer_out(answer: Answer) -> AnswerOut:
    also = [
        CorroborationOut.model_validate(
            _with_source(c.source, quote=c.quote, start=c.start, end=c.end)
        )
        for c in answer.also_reported_by
    ]
    return AnswerOut(
        quote=answer.quote,
        passage=answer.passage,
        score=round(answer.score, SCORE_DIGITS),
        start=answer.start,
        end=answer.end,
        source=source_out(answer.source),
        also_reported_by=also,
    )


def ask_response(result: Result) -> AskResponse:
    """What every channel shows for a question."""
    return AskResponse(
        question=result.question,
        answers=[answer_out(a) for a in result.answers],
        abstained=result.abstained,
    )


def article_out(source: Source, passages: int) -> ArticleOut:
    return ArticleOut.model_validate(_with_source(source, passages=passages))


def article_text(article: Article, passages: int) -> ArticleText:
    return ArticleText.model_validate(
        _with_source(article.source, passages=passages, text=article.text)
    )
