"""A stand-in for the web: a threaded HTTP server on a free loopback port serving the
pages and feeds a test puts there, answering conditional requests, and recording every
request it gets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WEB = Path(__file__).resolve().parent / "data" / "web"


@dataclass
class Reply:
    """What the site answers at one path."""

    body: bytes | str = b""
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answers 304 to a matching If-None-Match
    last_modified: str | None = None  # answers 304 to a matching If-Modified-Since
    delay: float = 0.0  # seconds before the headers
    chunked: bool = False  # no Content-Length


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    at: float  # time.monotonic()


Route = Reply | Callable[[Request, int], Reply]  # a callable gets the request and its count


class Site:
    """``site.put("/news/a", Reply(...))``, then fetch ``site.url("/news/a")``."""

    def __init__(self, host: str, port: int) -> None:
        self.base = f"http://{host}:{port}"
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.closing = threading.Event()
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        return self.base + path

    def put(self, path: str, reply: Route) -> str:
        self.routes[path] = reply
        return self.url(path)

    def put_file(self, path: str, name: str, **reply: object) -> str:
        """A file of tests/data/web, with {base} replaced by this site's address."""
        text = (WEB / name).read_text(encoding="utf-8").replace("{base}", self.base)
        kind = "application/rss+xml" if name.endswith(".rss") else None
        kind = "application/atom+xml" if name.endswith(".atom") else kind
        options = {"content_type": kind or "text/html; charset=utf-8", **reply}
        return self.put(path, Reply(text, **options))  # type: ignore[arg-type]

    def put_syndicated(self, path: str) -> str:
        """grain.html as another site reprints it: the same text, no canonical url."""
        page = (WEB / "grain.html").read_text(encoding="utf-8").replace("{base}", self.base)
        lines = [line for line in page.splitlines() if 'rel="canonical"' not in line]
        page = "\n".join(lines).replace("| Example Wire", "(syndicated)")
        return self.put(path, Reply(page))

    def hits(self, path: str) -> list[Request]:
        """The requests for ``path`` (its query left aside)."""
        return [r for r in self.requests if r.path.split("?")[0] == path]

    def answer(self, request: Request) -> Reply:
        with self._lock:
            count = len(self.hits(request.path))
            self.requests.append(request)
        route = self.routes.get(request.path.split("?")[0])
        if route is None:
            return Reply("not here", status=404, content_type="text/plain")
        return route(request, count) if callable(route) else route


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            request = Request(
                self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic()
            )
            reply = site.answer(request)
            if reply.delay:
                site.closing.wait(reply.delay)
            body = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
            status = reply.status
            if (reply.etag and request.headers.get("if-none-match") == reply.etag) or (
                reply.last_modified
                and request.headers.get("if-modified-since") == reply.last_modified
            ):
                status, body = 304, b""
            self.send_response(status)
            if reply.content_type and status != 304:
                self.send_header("Content-Type", reply.content_type)
            for name, value in {
                **({"ETag": reply.etag} if reply.etag else {}),
                **({"Last-Modified": reply.last_modified} if reply.last_modified else {}),
                **reply.headers,
            }.items():
                self.send_header(name, value)
            if reply.chunked and status != 304:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._chunks(body)
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _chunks(self, body: bytes) -> None:
            try:
                for start in range(0, len(body), 16384):
                    piece = body[start : start + 16384]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading, as it should past its limit

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up early (past its size limit or time-out) is expected."""


@contextmanager
def serving() -> Iterator[Site]:
    """A Site on 127.0.0.1 and a free port, for the length of the block."""
    site = Site("127.0.0.1", 0)
    server = _Server(("127.0.0.1", 0), _handler(site))
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.closing.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
