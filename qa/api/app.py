"""The FastAPI app: the lifespan loads the model and index once; errors become 4xx JSON."""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.api import routes, web
from qa.api.deadline import Deadline
from qa.api.metrics import Metrics
from qa.api.request_log import RequestLog
from qa.api.schemas import ArticleIn, UrlIn
from qa.api.uploads import TooLargeError, UnsupportedTypeError, describe_errors
from qa.config import Settings, get_settings
from qa.encoders import Encoder
from qa.errors import (
    CorpusError,
    IndexBusyError,
    IndexUnusableError,
    IndexWriteError,
    InputError,
    QAError,
    RateLimitedError,
    TryLaterError,
    UnknownArticleError,
)
from qa.feeds import AddressGuard, Fetcher
from qa.limits import SharedWindow, SlidingWindow, Window
from qa.service import NotReadyError, Service

log = logging.getLogger("qa.api")
# Most specific first: the first class an error is an instance of gives the status.
_STATUS: tuple[tuple[type[QAError], int], ...] = (
    (routes.Unauthorized, 401),
    (routes.WritesDisabled, 403),
    (UnknownArticleError, 404),
    (TooLargeError, 413),
    (UnsupportedTypeError, 415),
    (InputError, 422),
    (CorpusError, 422),
    (RateLimitedError, 429),
    (TryLaterError, 503),
    (IndexWriteError, 507),
    (IndexBusyError, 503),
    (NotReadyError, 503),
    (IndexUnusableError, 503),
)

Sidecar = Callable[[Service, Settings], Any]  # an async context manager run beside the app


def create_app(
    settings: Settings | None = None,
    *,
    encoder: Callable[[], Encoder] | None = None,
    sidecars: tuple[Sidecar, ...] = (),
    shared: Path | None = None,
) -> FastAPI:
    """An app serving one index. ``sidecars`` (the Telegram bot) share its Service;
    ``shared``, a folder of state every worker of `qa serve` shares (the rate limit)."""
    settings = settings or get_settings()
    service = Service(settings, encoder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load in the background so /health can say 503 "loading" meanwhile.
        loading = asyncio.create_task(service.start())
        loading.add_done_callback(_log_failure)
        async with AsyncExitStack() as stack:
            for sidecar in sidecars:
                try:
                    await stack.enter_async_context(sidecar(service, settings))
                except QAError as exc:  # the API serves on without it
                    log.error("not started: %s", " ".join(str(exc).split()))
            try:
                yield
            finally:
                loading.cancel()
                await service.stop()

    app = FastAPI(
        title="qa",
        summary="Answers about news articles as verbatim quotes with their sources.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.shared = shared
    app.state.metrics = Metrics()
    app.state.rate_limiter = _rate_limiter(settings, shared)
    # POST /articles {"url"}: one fetcher, so robots.txt is read once per site; it
    # fetches only from public addresses (and QA_FETCH_ALLOW_NETWORKS).
    app.state.fetcher = Fetcher(settings, guard=AddressGuard(settings.fetch_allow_networks))
    app.include_router(routes.router)
    web.add_page(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(Deadline, seconds=settings.request_timeout)  # inside the log line
    app.add_middleware(RequestLog, metrics=app.state.metrics)
    _add_error_handlers(app)
    _document_article_body(app)
    return app


def _rate_limiter(settings: Settings, shared: Path | None) -> Window | None:
    if not settings.rate_limit:
        return None
    if shared is None:
        return SlidingWindow(settings.rate_limit, settings.rate_window)
    return SharedWindow(shared / "rate-limit.sqlite", settings.rate_limit, settings.rate_window)


def _document_article_body(app: FastAPI) -> None:
    """Put ArticleIn and UrlIn in the OpenAPI components: POST /articles reads its body by hand
    (JSON or an upload), so FastAPI does not see the model the docs refer to."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = plain()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (ArticleIn, UrlIn):
                schemas[model.__name__] = model.model_json_schema(
                    ref_template="#/components/schemas/{model}"
                )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _allowed_methods(request: Request) -> str:
    """Every method some route takes on this path, read from the OpenAPI paths.

    Starlette's own Allow header names the methods of only one of the routes on a path.
    """
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("could not load: %s", task.exception())


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QAError)
    async def domain_error(request: Request, exc: QAError) -> JSONResponse:
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TryLaterError):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        elif status == 503:
            headers = {"Retry-After": "5"}
        return JSONResponse({"detail": " ".join(str(exc).split())}, status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "the body is not valid JSON"}, 400)
        return JSONResponse({"detail": describe_errors(list(errors))}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.url.path}; see /docs"
        headers = exc.headers
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            detail = (
                f"{request.method} is not allowed on {request.url.path}; "
                f"use {allowed or 'another method'} (see /docs)"
            )
            headers = {**(exc.headers or {}), "Allow": allowed} if allowed else exc.headers
        return JSONResponse({"detail": detail}, exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}); the server log has details"},
            500,
        )
