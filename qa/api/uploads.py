"""Articles sent to POST /articles, as JSON or as an uploaded file, read within a size limit."""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import zlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from qa.api.schemas import ArticleIn, UrlIn
from qa.corpus.load import KINDS, SUPPORTED, Loaded, load, make_article
from qa.corpus.meta import parse_meta
from qa.errors import InputError

_FILE_FIELD = "file"


class TooLargeError(InputError):
    """The body is over the upload limit."""


class UnsupportedTypeError(InputError):
    """Neither JSON nor a file of a kind qa reads."""


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """A body naming a page or feed to fetch rather than giving an article."""

    url: str


async def read_articles(request: Request, limit: int) -> Loaded | FetchRequest:
    """The articles in the request body, or the URL to fetch them from; InputError
    subclasses say what is wrong."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:  # packed or not
        raise _too_large(limit)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        return _from_json(b"".join([chunk async for chunk in _limited(request, limit)]))
    if kind == "multipart/form-data":
        return await _from_form(request, limit)
    raise UnsupportedTypeError(
        f'send the article as application/json ({{"title", "text", ...}}) or as '
        f"multipart/form-data with a '{_FILE_FIELD}' field, not {kind or 'no content type'}"
    )


def _from_json(body: bytes) -> Loaded | FetchRequest:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InputError(f"the body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(
            'the body must be a JSON object: {"title": ..., "text": ...} or {"url": ...}'
        )
    if "text" not in data and "url" in data:  # fetch it, rather than take the text given
        if len(data) > 1:
            raise InputError(
                'to fetch a page or feed send only {"url": ...}; to give the article '
                "itself, send its 'text' (the url is then its metadata)"
            )
        try:
            return FetchRequest(UrlIn.model_validate(data).url.strip())
        except ValidationError as exc:
            raise InputError(describe_errors(exc.errors())) from None
    try:
        given = ArticleIn.model_validate(data)
    except ValidationError as exc:
        raise InputError(describe_errors(exc.errors())) from None
    if not given.text.strip():
        raise InputError("the article has no text: send it in the 'text' field")
    fields = given.model_dump()
    fields["id"] = given.id or _made_id(given.title, given.text)
    meta = parse_meta(fields, where="the article")
    return Loaded((make_article(given.text, meta, origin="POST /articles", markdown=False),), ())


async def _from_form(request: Request, limit: int) -> Loaded:
    parser = MultiPartParser(request.headers, _limited(request, limit), max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InputError(f"the upload could not be read: {exc.message}") from None
    try:
        upload = form.get(_FILE_FIELD)
        if not isinstance(upload, UploadFile):
            raise InputError(f"the form has no '{_FILE_FIELD}' field with a file in it")
        name = Path(upload.filename or "").name
        suffix = Path(name).suffix.lower()
        if suffix not in KINDS:
            raise UnsupportedTypeError(
                f"{name or 'the file'}: qa reads {SUPPORTED} files, "
                f"not {suffix or 'files without a suffix'}"
            )
        data = await upload.read()
    finally:
        await form.close()
    with tempfile.TemporaryDirectory(prefix="qa-upload-") as folder:
        path = Path(folder) / _safe_name(name)
        path.write_bytes(data)
        return load([path])


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The body, stopped as soon as it passes ``limit`` (Content-Length may be absent).

    A gzip body (Content-Encoding: gzip) is unpacked as it arrives, and the limit holds
    for what it unpacks to: a small bomb of zeros stops at the limit, not in memory.
    """
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise UnsupportedTypeError(
            f"qa reads bodies sent plain or with Content-Encoding gzip, not {encoding}"
        )
    unpack = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding != "identity" else None
    seen = 0
    async for chunk in request.stream():
        if unpack is not None:
            try:
                chunk = unpack.decompress(unpack.unconsumed_tail + chunk, limit + 1 - seen)
            except zlib.error as exc:
                raise InputError(f"the gzip body cannot be unpacked ({exc})") from None
        seen += len(chunk)
        if seen > limit or (unpack is not None and unpack.unconsumed_tail):
            raise _too_large(limit)
        yield chunk
    if unpack is not None and not unpack.eof:
        raise InputError("the gzip body is cut short; send it whole")


def _too_large(limit: int) -> TooLargeError:
    return TooLargeError(
        f"the upload is over {limit / 1_000_000:g} MB; split it into smaller files "
        "(or raise QA_MAX_UPLOAD_BYTES)"
    )


def _safe_name(name: str) -> str:
    """The uploaded file's name, usable on disk; it becomes the article id."""
    stem = re.sub(r"[^\w.-]+", "-", Path(name).stem).strip("-.") or "upload"
    return stem[:150] + Path(name).suffix.lower()


def _made_id(title: str | None, text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (title or "").lower()).strip("-")[:80].rstrip("-")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else f"article-{digest}"


def describe_errors(errors: object) -> str:
    """Pydantic's error list as one sentence: 'k: Input should be ...; question: ...'."""
    parts = []
    for error in errors if isinstance(errors, list | tuple) else []:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
        message = error.get("msg", "invalid")
        if error.get("type") == "extra_forbidden":
            message = "unknown field; check its spelling"
        elif error.get("type") == "missing":
            message = "required"
        elif error.get("type") == "value_error":  # qa's own message, without pydantic's prefix
            message = str(error.get("ctx", {}).get("error", message))
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "the request is not valid"
