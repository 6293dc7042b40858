"""The chat page at ``/`` and the votes it sends to ``POST /feedback``.

The page is static files in ``qa/web`` (no build step, nothing from a CDN). It renders
everything it receives as text, and its Content-Security-Policy forbids inline scripts
and any other origin, so a question or an article holding markup can never run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from qa.api.routes import Service_, settings
from qa.api.schemas import ErrorOut, FeedbackIn, FeedbackOut
from qa.errors import InputError
from qa.feedback import Votes, open_votes
from qa.questions import check_question

PAGE = Path(__file__).resolve().parent.parent / "web"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
router = APIRouter()


def add_page(app: FastAPI) -> None:
    """Serve the page at / and its scripts and styles under /static/."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=PAGE / "static"), name="static")


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(PAGE / "index.html", media_type="text/html", headers=HEADERS)


@router.post(
    "/feedback",
    response_model=FeedbackOut,
    status_code=201,
    responses={code: {"model": ErrorOut} for code in (400, 404, 422, 503)},
    tags=["questions"],
)
async def feedback(body: FeedbackIn, request: Request, svc: Service_) -> dict[str, Any]:
    """Keep a 👍 or 👎 on one answer, with its question, article and offsets.

    The votes land in the same SQLite table as the Telegram bot's (``QA_TELEGRAM_DB``);
    ``qa feedback`` lists them.
    """
    check_question(body.question, svc.settings)
    article, _, _ = svc.article(body.article_id)
    if body.end > len(article.text) or body.start >= body.end:
        raise InputError(
            f"start {body.start} and end {body.end} are not a quote of {body.article_id!r}, "
            f"whose text has {len(article.text)} characters; send an answer's own offsets"
        )
    quote = article.text[body.start : body.end]
    answer = (body.article_id, body.start, body.end, quote)
    store = await asyncio.to_thread(_store, request)
    vote = await asyncio.to_thread(
        store.web_vote, body.question_id, body.rank, body.question, answer, body.vote
    )
    return FeedbackOut(**vote.to_dict()).model_dump()


def _store(request: Request) -> Votes:
    """Opened at the first vote, so a server nobody votes on creates no file."""
    state = request.app.state
    if getattr(state, "feedback", None) is None:
        state.feedback = open_votes(settings(request))
    store: Votes = state.feedback
    return store
