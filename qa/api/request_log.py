"""One JSON log line and the metrics of every request, and its X-Request-ID.

A pure ASGI middleware: Starlette's ``BaseHTTPMiddleware`` runs each request in a task
of its own and streams the response through a memory channel, which cost more of a
question's time under load than anything else around the route.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.api.metrics import Metrics

log = logging.getLogger("qa.api")


class RequestLog:
    """Logs id, method, path, status, latency and k (never a header) and counts them."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def answered(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, answered)
        finally:
            self._record(scope, request_id, status, time.perf_counter() - start)

    def _record(self, scope: Scope, request_id: str, status: int, elapsed: float) -> None:
        template = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.requests.labels(template, scope["method"], str(status)).inc()
        self.metrics.latency.labels(template).observe(elapsed)
        state: dict[str, Any] = scope.get("state") or {}
        line = {
            "id": request_id,
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "ms": round(elapsed * 1000, 1),
            "k": state.get("k"),
        }
        log.info(json.dumps(line, ensure_ascii=False))


def _request_id(scope: Scope) -> str:
    """The client's X-Request-ID (64 characters at most), else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = str(value.decode("latin-1"))[:64]
            if given:
                return given
    return uuid.uuid4().hex[:16]
