"""Every request gets QA_REQUEST_TIMEOUT seconds; past that it is answered 503.

A pure ASGI middleware, so the deadline covers the whole request (waiting in the
question queue included) and the 503 is still logged and counted by the middleware
around it. A write that runs past its deadline goes on in the background and is
published whole or not at all; the client is told how to find out which.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

RETRY_AFTER = "5"


class Deadline:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, tracked)
        except TimeoutError:
            if started:  # too late for another status; the client sees a cut response
                raise
            await self._timed_out(scope)(scope, receive, send)

    def _timed_out(self, scope: Scope) -> Any:
        detail = (
            f"the request took longer than {self.seconds:g} s (QA_REQUEST_TIMEOUT); "
            "the server is busy, try again shortly"
        )
        if scope.get("method") in {"POST", "DELETE"} and "/articles" in scope.get("path", ""):
            detail += (
                "; the write goes on and is stored whole or not at all: GET /articles shows "
                "whether it landed"
            )
        return JSONResponse({"detail": detail}, 503, headers={"Retry-After": RETRY_AFTER})
