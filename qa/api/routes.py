"""The endpoints. Thin: the work happens in qa.service; errors are translated in app.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import math
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from qa.api.schemas import (
    QUESTION,
    AskRequest,
    Day,
    ErrorOut,
    Health,
    K,
    SkippedOut,
    WriteReport,
)
from qa.api.uploads import FetchRequest, read_articles
from qa.config import Settings
from qa.errors import FetchError, QAError, RateLimitedError
from qa.feeds import Collector, Skipped
from qa.limits import Window
from qa.retrieve import make_filters
from qa.schemas import (
    ArticleOut,
    ArticleText,
    AskResponse,
    article_out,
    article_text,
    ask_response,
)
from qa.service import Service, Written
from qa.serving import ready_workers
from qa.types import Result

router = APIRouter()
VERSION_HEADER = "X-Index-Version"  # the index version an answer or article text is from
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 413, 415, 422, 429, 503, 507)
}


class Unauthorized(QAError):
    """No key, or the wrong one."""


class WritesDisabled(QAError):
    """No QA_API_KEY is configured."""


def service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def require_writer(request: Request) -> None:
    """Writes need ``Authorization: Bearer <QA_API_KEY>``, compared in constant time."""
    key = settings(request).api_key
    if key is None or not key.get_secret_value():
        raise WritesDisabled(
            "adding and deleting articles is disabled: start the server with QA_API_KEY set "
            "to a secret, then send it as 'Authorization: Bearer <key>'"
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = key.get_secret_value().encode("utf-8")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8"), expected
    ):
        raise Unauthorized("send the API key as 'Authorization: Bearer <QA_API_KEY>'")


async def fresh_service(request: Request) -> Service:
    """The service, having read a version another process wrote (another worker, `qa
    index`, `qa watch`): reads see what a write through any worker made."""
    svc = service(request)
    await asyncio.to_thread(svc.up_to_date)
    return svc


Service_ = Annotated[Service, Depends(service)]
Fresh = Annotated[Service, Depends(fresh_service)]  # questions refresh themselves
Writer = Depends(require_writer)


@router.post("/ask", response_model=AskResponse, responses=_ERRORS, tags=["questions"])
async def ask_post(body: AskRequest, request: Request, svc: Service_) -> Response:
    """Ask a question; the answers are verbatim quotes with their sources."""
    outlets = [body.outlet] if isinstance(body.outlet, str) else body.outlet or []
    return await _ask(
        request,
        svc,
        body.question,
        body.k,
        outlets,
        body.published_from,
        body.published_to,
    )


@router.get("/ask", response_model=AskResponse, responses=_ERRORS, tags=["questions"])
async def ask_get(
    request: Request,
    svc: Service_,
    q: Annotated[str, Query(description="The question.", json_schema_extra=QUESTION)],
    k: Annotated[
        int | None, Query(description="Answers wanted, 1 to 50.", json_schema_extra=K)
    ] = None,
    # A list, not "a list or null": a query has no null, and one value is a list of one.
    outlet: Annotated[list[str], Query(description="Repeat for several.")] = [],  # noqa: B006
    published_from: Day | None = None,
    published_to: Day | None = None,
) -> Response:
    """The same as POST /ask, for browsers and curl: /ask?q=...&k=3."""
    return await _ask(request, svc, q, k, outlet, published_from, published_to)


async def _ask(
    request: Request,
    svc: Service,
    question: str,
    k: int | None,
    outlets: list[str],
    published_from: dt.date | None,
    published_to: dt.date | None,
) -> Response:
    """The answer, encoded to JSON once (pydantic's own encoder, from the model), not
    validated and encoded again by FastAPI against the declared ``AskResponse``."""
    request.state.k = k if k is not None else svc.settings.k
    filters = make_filters(outlets, published_from, published_to)
    limiter: Window | None = request.app.state.rate_limiter
    if limiter is not None:
        client = request.client.host if request.client else "unknown"
        if not limiter.allow(client):
            wait = limiter.retry_after(client)
            raise RateLimitedError(
                f"this address asked more than {limiter.limit} questions in "
                f"{limiter.window:g} s (QA_RATE_LIMIT); try again in {math.ceil(wait)} s",
                wait,
            )
    answered = await svc.answer(question, k, filters)
    result: Result = answered.result
    metrics = request.app.state.metrics
    metrics.questions.inc()
    metrics.batches.set(svc.batches)  # each worker's own, added up at a scrape
    if result.abstained:
        metrics.abstentions.inc()
    return Response(
        ask_response(result).model_dump_json(),
        media_type="application/json",
        headers={VERSION_HEADER: answered.version},
    )


@router.get("/health", response_model=Health, responses={503: {"model": Health}}, tags=["service"])
async def health(request: Request, svc: Fresh) -> Response:
    """200 once the model and an index are loaded and the store answers; 503 while
    loading, with no index, or while a database of the store cannot be reached."""
    down = await asyncio.to_thread(svc.unreachable)
    index = svc.status()
    store = svc.settings.store
    workers = ready_workers(request.app.state.shared)
    if index is None or down:
        status = "loading" if svc.problem == "loading" and not down else "unavailable"
        body = Health(
            status=status,
            store=store,
            model=svc.settings.model,
            detail=down or svc.problem,
            workers=workers,
        )
        return JSONResponse(body.model_dump(), status_code=503)
    body = Health(
        status="ok",
        store=store,
        model=index.model,
        articles=index.articles,
        passages=index.passages,
        index_version=index.version,
        built_at=index.built_at,
        detail=svc.warning,
        workers=workers,
    )
    return JSONResponse(body.model_dump())


@router.get("/articles", response_model=list[ArticleOut], responses=_ERRORS, tags=["articles"])
async def list_articles(svc: Fresh) -> list[ArticleOut]:
    """Every indexed article with its metadata and passage count."""
    return [article_out(info.source, info.passages) for info in svc.articles()]


@router.get(
    "/articles/{article_id}", response_model=ArticleText, responses=_ERRORS, tags=["articles"]
)
async def get_article(article_id: str, response: Response, svc: Fresh) -> ArticleText:
    """Metadata and cleaned text: ``text[start:end]`` of an answer is its quote
    (of an answer from the same index version, as the X-Index-Version headers say)."""
    article, passages, version = svc.article(article_id)
    response.headers[VERSION_HEADER] = version
    return article_text(article, passages)


@router.post(
    "/articles",
    response_model=WriteReport,
    status_code=201,
    responses=_ERRORS,
    dependencies=[Writer],
    tags=["articles"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/ArticleIn"},
                            {"$ref": "#/components/schemas/UrlIn"},
                        ]
                    }
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": ".txt/.md (front matter), .html or .jsonl",
                            }
                        },
                    }
                },
            },
        }
    },
)
async def add_article(request: Request, response: Response, svc: Service_) -> dict[str, Any]:
    """Add an article (JSON, an uploaded file, or `{"url"}` of a page or an RSS/Atom feed
    to fetch); it answers the very next question.

    An article whose id is already indexed is replaced. A fetched page already indexed
    as it is, or whose text another article has, is listed as skipped.
    """
    body = await read_articles(request, svc.settings.max_upload_bytes)
    if isinstance(body, FetchRequest):
        return await _add_from_web(request, response, svc, body.url)
    written = await svc.add(body.articles)
    return _report(written, response, [str(p) for p in body.problems])


async def _add_from_web(
    request: Request, response: Response, svc: Service, url: str
) -> dict[str, Any]:
    indexed = svc.retriever().snapshot.documents.articles if svc.ready else {}
    collector = Collector(request.app.state.fetcher, indexed)
    found = await asyncio.to_thread(collector.urls, [url])  # slow and blocking: off the loop
    if not found.articles and not found.skipped:
        raise FetchError("; ".join(found.problems) or f"{url}: no article in it")
    written = await svc.add(list(found.articles.values()))
    return _report(written, response, found.problems, found.skipped)


@router.delete(
    "/articles/{article_id}",
    response_model=WriteReport,
    responses=_ERRORS,
    dependencies=[Writer],
    tags=["articles"],
)
async def delete_article(article_id: str, response: Response, svc: Service_) -> dict[str, Any]:
    """Remove an article and its passages."""
    return _report(await svc.remove(article_id), response, [])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, svc: Fresh) -> Response:
    body = request.app.state.metrics.render(svc)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def _report(
    written: Written, response: Response, warnings: list[str], skipped: Sequence[Skipped] = ()
) -> dict[str, Any]:
    """The write's report; X-Index-Version names the version it made."""
    if written.version is not None:
        response.headers[VERSION_HEADER] = written.version
    report = written.report
    return WriteReport(
        added=list(report.added),
        updated=list(report.updated),
        removed=list(report.removed),
        skipped=[SkippedOut(url=s.url, article_id=s.article_id, reason=s.reason) for s in skipped],
        articles=report.articles,
        passages=report.passages,
        warnings=warnings,
    ).model_dump()
