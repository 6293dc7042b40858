"""The loaded model and index behind the HTTP API and the bot, shared by both.

Questions that arrive together are answered in one model call (micro-batching) on a
worker thread, never on the event loop. Writes build a new index version on disk and
then swap in a new Retriever whole: a question is answered by the old state or the new
one, never by half of each. Another process's `qa index` is picked up the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from qa.config import Settings
from qa.encoders import Encoder, get_encoder, get_query_encoder
from qa.errors import (
    IndexMissingError,
    OverloadedError,
    QAError,
    StoreUnavailableError,
    UnknownArticleError,
)
from qa.indexing import BuildReport, build, remove
from qa.questions import check_k, check_question
from qa.recovery import open_served
from qa.retrieve import Query, Retriever
from qa.store import Store, get_store
from qa.types import Article, Filters, Result, Source

log = logging.getLogger(__name__)
T = TypeVar("T")


class NotReadyError(QAError):
    """The service has no index to answer from yet (or is still loading)."""


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    """An indexed article as listed to users."""

    source: Source
    passages: int


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """What the index in use holds, for health checks and metrics."""

    articles: int
    passages: int
    model: str
    version: str  # the name of the version folder
    built_at: str


@dataclass(frozen=True, slots=True)
class VersionedResult:
    """A result and the index version that gave it (what its offsets refer to)."""

    result: Result
    version: str


@dataclass(frozen=True, slots=True)
class Written:
    """What a write changed, and the index version it made (now answering)."""

    report: BuildReport
    version: str | None


@dataclass(slots=True)
class _Pending:
    query: Query
    future: asyncio.Future[VersionedResult]


class Service:
    """One per process: owns the model, the current Retriever and the batching queue."""

    def __init__(
        self,
        settings: Settings,
        encoder: Callable[[], Encoder] | None = None,
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self._get_encoder = encoder or (lambda: get_encoder(settings))  # for writes
        self._get_query_encoder = encoder or (lambda: get_query_encoder(settings))
        self.store = store or get_store(settings)
        self._retriever: Retriever | None = None
        self._version: str | None = None
        self.problem: str | None = "loading"  # why there is nothing to answer from, if so
        self.warning: str | None = None  # why what answers is not the current version
        self._write_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        # One thread runs the model; a second serves writes, so a slow write never
        # holds up questions.
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="qa-ask")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="qa-write")
        self._queue: asyncio.Queue[_Pending] | None = None
        self._batcher: asyncio.Task[None] | None = None
        self.batches = 0  # model calls made for questions, for tests and metrics
        self.pending = 0  # questions waiting for (or in) a model call

    # -- lifecycle ----------------------------------------------------------------

    def load(self) -> None:
        """Load the model and the index (blocking). A missing index is not an error here:
        the service reports itself not ready until one is built or an article is added.
        """
        self._get_query_encoder()  # the writes' encoder loads at the first write
        with contextlib.suppress(StoreUnavailableError):  # ``problem`` says why; a
            self.refresh(force=True)  # question or /health tries again

    def unreachable(self) -> str | None:
        """Why the store cannot be reached now, or None (blocking: a round trip). Once it
        can be, a service left without an index by an outage at its start loads one."""
        problem = self.store.unreachable()
        if problem is None:
            self._load_again()
        return problem

    def up_to_date(self) -> None:
        """Swap in a version another process wrote (another worker of `qa serve`, `qa
        index`, `qa watch`) before a read; a question does this itself. Blocking, and
        cheap when nothing changed: one read of the store's pointer."""
        if self.problem != "loading":
            with contextlib.suppress(QAError):  # ``problem`` or ``warning`` says why
                self.refresh()

    def _load_again(self) -> None:
        if self._retriever is None and self.problem != "loading":
            with contextlib.suppress(QAError):
                self.refresh(force=True)

    async def start(self) -> None:
        """Load off the event loop and start the batcher."""
        self._queue = asyncio.Queue()
        self._batcher = asyncio.create_task(self._run_batches(), name="qa-batcher")
        if self.problem == "loading":  # not loaded before the server started
            await asyncio.get_running_loop().run_in_executor(self._writer, self.load)

    async def stop(self) -> None:
        if self._batcher is not None:
            self._batcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._batcher
        self._reader.shutdown(wait=False, cancel_futures=True)
        self._writer.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    # -- reading ------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._retriever is not None

    def status(self) -> IndexStatus | None:
        """The index in use; None while there is none (``problem`` says why)."""
        retriever = self._retriever
        if retriever is None:
            return None
        manifest = retriever.snapshot.manifest
        return IndexStatus(
            manifest.articles,
            manifest.passages,
            manifest.model,
            retriever.snapshot.version,
            manifest.built_at,
        )

    def retriever(self) -> Retriever:
        """The current state; NotReadyError says why there is none."""
        retriever = self._retriever
        if retriever is None:
            raise NotReadyError(self.problem or "the index is not loaded")
        return retriever

    def articles(self) -> list[ArticleInfo]:
        listing = self.retriever().snapshot.documents.listing()
        return [ArticleInfo(source, passages) for source, passages in listing]

    def article(self, article_id: str) -> tuple[Article, int, str]:
        """The article, its passage count and the index version they are from."""
        snapshot = self.retriever().snapshot
        docs = snapshot.documents
        article = docs.articles.get(article_id)
        if article is None:
            raise UnknownArticleError(
                f"no article with the id {article_id!r}; GET /articles lists them"
            )
        return article, len(docs.passages_of(article_id)), snapshot.version

    async def ask(
        self, question: str, k: int | None = None, filters: Filters | None = None
    ) -> Result:
        """Answer one question, batched with whatever else is asked meanwhile."""
        return (await self.answer(question, k, filters)).result

    async def answer(
        self, question: str, k: int | None = None, filters: Filters | None = None
    ) -> VersionedResult:
        """``ask``, with the index version that answered. Beyond QA_MAX_PENDING questions
        waiting, OverloadedError at once: a queue that only grows answers nobody in time."""
        query = Query(question, self.settings.k if k is None else k, filters or Filters())
        check_question(query.question, self.settings)  # fails alone, not with its batch
        check_k(query.k, self.settings)
        if self._retriever is None and self.problem != "loading":  # after an outage: again
            await asyncio.get_running_loop().run_in_executor(self._writer, self._load_again)
        self.retriever()  # not ready: say so now
        if self._queue is None:
            raise NotReadyError("the service is not started")
        if self.pending >= self.settings.max_pending:
            raise OverloadedError(
                f"{self.pending} questions are waiting already (QA_MAX_PENDING); "
                "try again in a second"
            )
        future: asyncio.Future[VersionedResult] = asyncio.get_running_loop().create_future()
        self.pending += 1
        try:
            await self._queue.put(_Pending(query, future))
            return await future
        finally:
            self.pending -= 1

    async def _run_batches(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        window = self.settings.batch_window_ms / 1000
        while True:
            batch = [await self._queue.get()]
            # Whatever queued while the model was busy goes in this call: batches grow
            # with the load, and a lone question waits for nothing. A window > 0 also
            # waits that long for company.
            deadline = loop.time() + window
            while len(batch) < self.settings.max_batch:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            batch = [p for p in batch if not p.future.done()]  # callers that gave up
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(
                    self._reader, self._answer, [p.query for p in batch]
                )
            except Exception as exc:  # every caller of the batch hears of it
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            for pending, answered in zip(batch, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(answered)

    def _answer(self, queries: Sequence[Query]) -> list[VersionedResult]:
        self.refresh()
        self.batches += 1
        retriever = self.retriever()
        version = retriever.snapshot.version
        return [VersionedResult(r, version) for r in retriever.answer_batch(queries)]

    # -- writing ------------------------------------------------------------------

    async def add(self, articles: Sequence[Article]) -> Written:
        """Index articles (new or replacing those with the same id) and swap them in."""
        return await self._in_writer(self._add, articles)

    async def remove(self, article_id: str) -> Written:
        return await self._in_writer(self._remove, article_id)

    def _add(self, articles: Sequence[Article]) -> Written:
        with self._write_lock:
            exists = self.store.current_version() is not None
            report = build(self.store, articles, self.settings, self._get_encoder, add=exists)
            return self._written(report)

    def _remove(self, article_id: str) -> Written:
        with self._write_lock:
            report = remove(self.store, [article_id], self.settings, self._get_encoder)
            return self._written(report)

    def _written(self, report: BuildReport) -> Written:
        self.refresh(force=True)
        retriever = self._retriever
        return Written(report, retriever.snapshot.version if retriever else None)

    async def _in_writer(self, func: Callable[[Any], T], arg: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, func, arg)

    def refresh(self, *, force: bool = False) -> None:
        """Swap in the index version on disk if it is not the one in use."""
        try:
            version = self.store.current_version()
        except StoreUnavailableError as exc:
            if self._retriever is None:
                self.problem = str(exc)
            raise
        if not force and version == self._version:
            return
        with self._reload_lock:
            version = self.store.current_version()
            if not force and version == self._version:
                return
            try:
                snapshot, warning = open_served(self.store)
                retriever = Retriever(
                    snapshot,
                    self._get_query_encoder(),
                    self.settings,
                    location=self.store.location,
                )
            except IndexMissingError as exc:
                self._retriever, self._version, self.problem = None, None, str(exc)
                return
            except QAError as exc:
                if self._retriever is None:
                    self.problem = str(exc)
                    raise
                # Keep answering from the version in use; say why it was not replaced.
                log.warning("kept the index in use: %s", exc)
                return
            # CURRENT's name, not the version served: a damaged one is not retried each time.
            self._retriever, self._version, self.problem = retriever, version, None
            self.warning = warning
            if warning:
                log.warning("%s", warning)
            log.info(
                "index %s loaded: %d articles, %d passages",
                snapshot.version,
                snapshot.manifest.articles,
                snapshot.manifest.passages,
            )
